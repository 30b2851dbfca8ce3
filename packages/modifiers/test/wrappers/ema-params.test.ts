import * as tf from '@tensorflow/tfjs-core';
import { chain, disposeReplaced, explainFusion, runTransform, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { scaleByAdam } from '@emosens/moments';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle.
import { registerCpuKernels } from '../../../backend-cpu/src/index.js';
import { emaParams, readEmaParams, scaleByLearningRate } from '../../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());

/** Steps `emaParams` with parameters `ps[t]` and updates `us[t]` (1-d), returning the average after each. */
function averages(tx: ReturnType<typeof emaParams>, p0: number[], ps: number[][], us: number[][]): number[][] {
  let state = tx.init({ w: tf.tensor1d(p0) });
  const out: number[][] = [];
  ps.forEach((p, t) => {
    const u = tf.tensor1d(us[t]!);
    const r = runTransform(tx, { w: tf.tensor1d(p) }, state, { w: u });
    expect(r.updates.w).toBe(u); // the updates pass through, the very same tensor
    disposeReplaced(state, r.state);
    state = r.state;
    out.push(v(readEmaParams(state).w));
  });
  return out;
}

describe('emaParams: hand-derived', () => {
  it('debiased (default): the first average is p + u, then the optax ema divided by 1 - d^t', () => {
    // d = 0.5; x = p + u: 2, then 4, then 4
    // t=1: w = 0.5 / (1 - 0.5) = 1 -> 2
    // t=2: w = 0.5 / 0.75 = 2/3 -> 2 + 2 * 2/3 = 10/3 (optax: e = 1, 2.5; 2.5 / 0.75 = 10/3)
    // t=3: w = 0.5 / 0.875 = 4/7 -> 10/3 + (4 - 10/3) * 4/7 = 26/7 (optax: e = 3.25; 3.25 / 0.875 = 26/7)
    const out = averages(emaParams({ decay: 0.5 }), [0], [[1], [3], [4]], [[1], [1], [0]]);
    expect(out.map((a) => a[0])).toEqual([2, expect.closeTo(10 / 3, 6), expect.closeTo(26 / 7, 6)]);
  });

  it('without debias: starts from the initial parameters and blends d * avg + (1 - d) * (p + u)', () => {
    // p0 = 1, d = 0.5: x = 2 -> 0.5 + 1 = 1.5; x = 4 -> 0.75 + 2 = 2.75
    const tx = emaParams({ decay: 0.5, debias: false });
    expect(v(readEmaParams(tx.init({ w: tf.tensor1d([1]) })).w)).toEqual([1]);
    const out = averages(tx, [1], [[1], [3]], [[1], [1]]);
    expect(out).toEqual([[1.5], [2.75]]);
  });

  it('readEmaParams finds the average anywhere in a state, and refuses none or two', () => {
    const tx = chain({ adam: scaleByAdam(), lr: scaleByLearningRate(0.1), emaParams: emaParams() });
    const params = { w: tf.ones([2]) };
    const state = tx.init(params);
    expect(Object.keys(readEmaParams(state))).toEqual(['w']);
    expect(readEmaParams(state)).toBe(state.emaParams.emaParams);
    expect(() => readEmaParams(scaleByAdam().init(params))).toThrow(expect.objectContaining({ code: 'INVALID_STATE', message: expect.stringMatching(/holds no emaParams average/) }));
    const two = chain(emaParams(), emaParams({ debias: false })).init(params);
    expect(() => readEmaParams(two)).toThrow(/holds 2 emaParams averages \(at 0, 1\)/);
    expect(readEmaParams(two[1]).w).toBe(two[1].emaParams.w);
  });

  it('refuses a decay outside [0, 1) and a debias that is not a boolean, naming them', () => {
    expect(() => emaParams({ decay: 1 })).toThrow(/emaParams: option 'decay'/);
    expect(() => emaParams({ decay: -0.1 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => emaParams({ debias: 'yes' as never })).toThrow(/emaParams: option 'debias' must be true or false/);
  });

  it('leaks nothing', () => {
    const tx = emaParams();
    const params = { w: tf.ones([3]) };
    let state = tx.init(params);
    const before = tf.memory().numTensors;
    for (let t = 0; t < 3; t++) {
      const grads = { w: tf.tensor1d([1, -2, 3]) };
      const r = runTransform(tx, params, state, grads);
      disposeReplaced(state, r.state);
      tf.dispose(Object.values(grads));
      state = r.state;
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('emaParams: fused on the typed-array target', () => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerCpuKernels({ precision: 'exact' });
  });
  afterAll(() => unregister());

  for (const debias of [true, false]) {
    it(`debias ${debias}: fused == composed bit for bit; the average after the first step is the parameters (debiased)`, () => {
      const make = () => chain(scaleByAdam(), scaleByLearningRate(0.05), emaParams({ decay: 0.9, debias })) as GradientTransformation<StateValue>;
      expect(explainFusion(make(), 'cpu')).toEqual({ fused: true, target: 'typed-array' });
      const init = { w: [0.5, -1, 2, 0.25, -0.75, 1.5], b: [0.1, -0.2] };
      const makeParams = () => ({ w: tf.variable(tf.tensor(init.w, [2, 3])), b: tf.variable(tf.tensor(init.b)) });
      const pf = makeParams();
      const pc = makeParams();
      const fusedOpt = statefulOptimizer(make(), pf);
      const composedOpt = statefulOptimizer(make(), pc, { fused: false });
      let before = 0;
      for (let t = 0; t < 6; t++) {
        if (t === 1) before = tf.memory().numTensors;
        const g = { w: tf.tensor(init.w.map((x, i) => Math.sin(x + i + t)), [2, 3]), b: tf.tensor1d(init.b.map((x, i) => Math.cos(x + i * t))) };
        fusedOpt.step(g);
        composedOpt.step(g);
        tf.dispose(Object.values(g));
        expect(fusedOpt.path).toBe('fused');
        // (1 - d) / (1 - d^1) is 1 up to float32 rounding
        if (t === 0 && debias) expect(v(readEmaParams(fusedOpt.state).w)).toEqual(v(pf.w).map((x) => expect.closeTo(x, 6)));
      }
      expect(tf.memory().numTensors).toBe(before);
      expect(v(pf.w)).toEqual(v(pc.w));
      expect(v(readEmaParams(fusedOpt.state).w)).toEqual(v(readEmaParams(composedOpt.state).w));
      expect(v(readEmaParams(fusedOpt.state).b)).toEqual(v(readEmaParams(composedOpt.state).b));
      expect(v(readEmaParams(fusedOpt.state).w)).not.toEqual(v(pf.w)); // an average, not the last parameters
      fusedOpt.dispose();
      composedOpt.dispose();
      tf.dispose([...Object.values(pf), ...Object.values(pc)]);
    });
  }
});
