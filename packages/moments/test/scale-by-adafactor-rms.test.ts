import * as tf from '@tensorflow/tfjs-core';
import { disposeReplaced, runTransform, statefulOptimizer } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { scaleByAdafactorRms, type AdafactorRmsState } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());

/**
 * optax's scale_by_factored_rms in plain float64, for one parameter of `shape` (rank 2 seen as
 * [d0, rest]): returns the update of each step.
 */
function reference(shape: number[], grads: number[][], o: { decayRate?: number; eps?: number; factored: boolean }): number[][] {
  const decayRate = o.decayRate ?? 0.8;
  const eps = o.eps ?? 1e-30;
  const size = shape.reduce((a, b) => a * b, 1);
  const rows = shape[0]!;
  const cols = size / rows;
  let R = new Array<number>(rows).fill(0);
  let C = new Array<number>(cols).fill(0);
  let V = new Array<number>(size).fill(0);
  return grads.map((g, t) => {
    const beta = 1 - Math.pow(t + 1, -decayRate);
    const s = g.map((x) => x * x + eps);
    if (!o.factored) {
      V = V.map((x, k) => beta * x + (1 - beta) * s[k]!);
      return g.map((x, k) => x / Math.sqrt(V[k]!));
    }
    const rowMean = R.map((_, i) => s.slice(i * cols, (i + 1) * cols).reduce((a, b) => a + b, 0) / cols);
    const colMean = C.map((_, j) => R.reduce((a, __, i) => a + s[i * cols + j]!, 0) / rows);
    R = R.map((x, i) => beta * x + (1 - beta) * rowMean[i]!);
    C = C.map((x, j) => beta * x + (1 - beta) * colMean[j]!);
    const meanR = R.reduce((a, b) => a + b, 0) / rows;
    return g.map((x, k) => x / Math.sqrt((R[Math.floor(k / cols)]! * C[k % cols]!) / meanR));
  });
}

/** Gradients that vary by step and element, with a zero now and then. */
function gradients(size: number, steps: number): number[][] {
  return Array.from({ length: steps }, (_, t) => Array.from({ length: size }, (_, k) => ((k + 2 * t) % 7 === 3 ? 0 : Math.sin(1.3 * k + 0.7 * t + 0.2) * (1 + k / 5))));
}

/** Runs the block composed on a parameter of `shape` and returns each step's update (the parameter's change). */
function runComposed(shape: number[], grads: number[][], options: Parameters<typeof scaleByAdafactorRms>[0]) {
  const params = { w: tf.variable(tf.zeros(shape)) };
  const opt = statefulOptimizer(scaleByAdafactorRms(options), params, { fused: false });
  let before = v(params.w);
  const out = grads.map((g) => {
    const grad = { w: tf.tensor(g, shape) };
    opt.step(grad);
    grad.w.dispose();
    const after = v(params.w);
    const u = after.map((x, k) => x - before[k]!);
    before = after;
    return u;
  });
  const state = opt.state as unknown as AdafactorRmsState;
  const layout = { vRow: Object.keys(state.vRow), vCol: Object.keys(state.vCol), v: Object.keys(state.v), count: v(state.count)[0] };
  const shapes = { vRow: state.vRow.w?.shape, vCol: state.vCol.w?.shape };
  expect(opt.path).toBe('composed');
  opt.dispose();
  params.w.dispose();
  return { out, layout, shapes };
}

function expectClose(actual: number[][], expected: number[][]) {
  actual.forEach((row, t) => row.forEach((x, k) => expect(x).toBeCloseTo(expected[t]![k]!, 5)));
}

describe('scaleByAdafactorRms (optax scale_by_factored_rms)', () => {
  it('a vector keeps a full average: u = g / sqrt(v), beta_t = 1 - (t + 1)^-0.8', () => {
    // step 1: beta = 0, v = g^2 + 1e-30, u = g / |g| = sign(g) (0 for g = 0: 0 / sqrt(1e-30))
    const grads = gradients(5, 4);
    const { out, layout } = runComposed([5], grads, {});
    expect(out[0]).toEqual(grads[0]!.map((x) => Math.sign(x)));
    expectClose(out, reference([5], grads, { factored: false }));
    expect(layout).toEqual({ vRow: [], vCol: [], v: ['w'], count: 4 });
  });

  it('a matrix with a side shorter than minDimSizeToFactor keeps a full average (default 128)', () => {
    const grads = gradients(6, 3);
    const { out, layout } = runComposed([2, 3], grads, {});
    expectClose(out, reference([2, 3], grads, { factored: false }));
    expect(layout.v).toEqual(['w']);
  });

  it('a matrix factors: u = g / sqrt(R ⊗ C / mean(R)), rows shorter than columns', () => {
    const grads = gradients(6, 4);
    const { out, layout, shapes } = runComposed([2, 3], grads, { minDimSizeToFactor: 2 });
    expectClose(out, reference([2, 3], grads, { factored: true }));
    expect(layout).toEqual({ vRow: ['w'], vCol: ['w'], v: [], count: 4 });
    expect(shapes).toEqual({ vRow: [2], vCol: [3] });
  });

  it('a matrix with more rows than columns normalises the column statistic (same value)', () => {
    const grads = gradients(6, 4);
    const { out } = runComposed([3, 2], grads, { minDimSizeToFactor: 2, decayRate: 0.5 });
    expectClose(out, reference([3, 2], grads, { factored: true, decayRate: 0.5 }));
  });

  it('one step by hand: g = [[1, 2], [3, 4]] gives R = [2.5, 12.5], C = [5, 10], mean(R) = 7.5', () => {
    // u = g / sqrt(R_i C_j / 7.5): [1 / sqrt(2.5 * 5 / 7.5), 2 / sqrt(2.5 * 10 / 7.5), 3 / sqrt(12.5 * 5 / 7.5), 4 / sqrt(12.5 * 10 / 7.5)]
    const { out } = runComposed([2, 2], [[1, 2, 3, 4]], { minDimSizeToFactor: 2, eps: 0 });
    const expected = [1 / Math.sqrt(12.5 / 7.5), 2 / Math.sqrt(25 / 7.5), 3 / Math.sqrt(62.5 / 7.5), 4 / Math.sqrt(125 / 7.5)];
    out[0]!.forEach((x, k) => expect(x).toBeCloseTo(expected[k]!, 6));
  });

  it('factors at the default minDimSizeToFactor when both sides are >= 128', () => {
    const grads = gradients(128 * 130, 2);
    const { out, layout, shapes } = runComposed([128, 130], grads, {});
    expect(layout.vRow).toEqual(['w']);
    expect(shapes).toEqual({ vRow: [128], vCol: [130] });
    expectClose(out, reference([128, 130], grads, { factored: true }));
  });

  it('factored: false keeps full averages for matrices too', () => {
    const grads = gradients(6, 2);
    const { out, layout } = runComposed([2, 3], grads, { factored: false, minDimSizeToFactor: 1 });
    expectClose(out, reference([2, 3], grads, { factored: false }));
    expect(layout.v).toEqual(['w']);
  });

  it('rank 3 factors as the matrix [d0, d1*d2] (where optax would use its two largest axes)', () => {
    const grads = gradients(12, 3);
    const { out, shapes } = runComposed([2, 2, 3], grads, { minDimSizeToFactor: 2 });
    expect(shapes).toEqual({ vRow: [2], vCol: [2, 3] });
    expectClose(out, reference([2, 12 / 2], grads, { factored: true }));
  });

  it('rank 3 is kept whole when optax would not factor it (its second largest axis is short), even if [d0, d1*d2] could be', () => {
    // [4, 2, 2] with minDimSizeToFactor 3: the matrix [4, 4] has both sides >= 3, but optax's second largest axis is 2 < 3
    const grads = gradients(16, 2);
    const { out, layout } = runComposed([4, 2, 2], grads, { minDimSizeToFactor: 3 });
    expect(layout.v).toEqual(['w']);
    expectClose(out, reference([4, 2, 2], grads, { factored: false }));
    // the documented difference: [2, 4, 4] is factored by optax (over its last two axes, per batch
    // entry), but its matrix [2, 16] has a side 2 < 3, so it is kept whole here
    expect(runComposed([2, 4, 4], gradients(32, 1), { minDimSizeToFactor: 3 }).layout.v).toEqual(['w']);
  });

  it('stepOffset restarts the decay schedule: at count == stepOffset, beta = 0', () => {
    const t = scaleByAdafactorRms({ stepOffset: 5 });
    const p = { x: tf.zeros([2]) };
    const fresh = t.init(p);
    fresh.count.dispose();
    const state = { ...fresh, count: tf.scalar(5) };
    const r = runTransform(t, p, state, { x: tf.tensor1d([3, -4]) });
    // beta = 1 - 1^-0.8 = 0: v = g^2, u = sign(g)
    expect(v(r.updates.x)).toEqual([1, -1]);
    expect(v(r.state.v.x)).toEqual([9, 16]);
    expect(v(r.state.count)).toEqual([6]);
  });

  it('below stepOffset the decay is held at 0 (optax: a non-finite decay), from stepOffset on the schedule runs', () => {
    // fresh state, stepOffset 2: counts 0, 1, 2 give beta 0, 0, 0; count 3 gives beta = 1 - 2^-0.8
    const grads = [[3, -4], [1, 2], [2, 2], [4, 1]];
    const { out } = runComposed([2], grads, { stepOffset: 2 });
    expect(out.slice(0, 3)).toEqual([[1, -1], [1, 1], [1, 1]]);
    const beta = 1 - Math.pow(2, -0.8);
    const v = [4, 4].map((x, k) => beta * x + (1 - beta) * grads[3]![k]! ** 2);
    out[3]!.forEach((x, k) => expect(x).toBeCloseTo(grads[3]![k]! / Math.sqrt(v[k]!), 6));
  });

  it('refuses bad options, naming them', () => {
    expect(() => scaleByAdafactorRms({ decayRate: -1 })).toThrowError(/scaleByAdafactorRms: option 'decayRate' must be in \[0, inf\)/);
    expect(() => scaleByAdafactorRms({ minDimSizeToFactor: 0 })).toThrowError(/option 'minDimSizeToFactor' must be an integer >= 1/);
    expect(() => scaleByAdafactorRms({ stepOffset: 1.5 })).toThrowError(/option 'stepOffset' must be an integer >= 0/);
    expect(() => scaleByAdafactorRms({ eps: Number.NaN })).toThrowError(/option 'eps'/);
    expect(() => scaleByAdafactorRms({ factored: 1 as unknown as boolean })).toThrowError(/option 'factored'/);
    expect(() => scaleByAdafactorRms({ eps: -1 })).toThrowError(expect.objectContaining({ code: 'INVALID_OPTION' }) as Error);
  });

  it('releases everything but the new state and updates', () => {
    const t = scaleByAdafactorRms({ minDimSizeToFactor: 2 });
    const p = { w: tf.zeros([2, 3]), b: tf.zeros([2]) };
    let state = t.init(p);
    const g = { w: tf.ones([2, 3]), b: tf.tensor1d([1, 2]) };
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const r = runTransform(t, p, state, g);
      disposeReplaced(state, r.state);
      state = r.state;
      // count, vRow.w, vCol.w and v.b are replaced one for one; two updates are new
      expect(tf.memory().numTensors).toBe(before + 2);
      tf.dispose(Object.values(r.updates));
    }
  });
});
