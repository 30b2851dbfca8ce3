import * as tf from '@tensorflow/tfjs-core';
import { chain, EmosensError, explainFusion, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { adaptiveGradClip } from '@emosens/modifiers';
import { describe, expect, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle
// (backend-cpu's tests depend on @emosens/optimizers), which turbo refuses.
import { registerCpuKernels } from '../../backend-cpu/src/index.js';
import { adafactor, lamb, type AdafactorOptions, type LambOptions } from '../src/index.js';

type Arr = number[];
type Shapes = Record<string, number[]>;

const sum = (x: Arr) => x.reduce((a, b) => a + b, 0);
const norm = (x: Arr) => Math.sqrt(sum(x.map((v) => v * v)));
const rms = (x: Arr) => Math.sqrt(sum(x.map((v) => v * v)) / x.length);

/** Gradients of step `t` for a parameter of `n` entries: varied signs and sizes, a zero now and then. */
const gradOf = (n: number, t: number, k0: number) => Array.from({ length: n }, (_, k) => ((k + t + k0) % 6 === 2 ? 0 : Math.sin(1.1 * k + 0.9 * t + k0) * (0.5 + (k % 4))));

/** Runs `tx` composed (or fused) for `steps` steps on the given parameters; returns the final parameters. */
function runOptimizer(tx: GradientTransformation<StateValue>, init: Record<string, Arr>, shapes: Shapes, steps: number, fused = false) {
  const params = Object.fromEntries(Object.entries(init).map(([k, x]) => [k, tf.variable(tf.tensor(x, shapes[k]))]));
  const opt = statefulOptimizer(tx, params, { fused });
  const before = tf.memory().numTensors;
  for (let t = 0; t < steps; t++) {
    const g = Object.fromEntries(Object.entries(init).map(([k, x], i) => [k, tf.tensor(gradOf(x.length, t, i), shapes[k])]));
    opt.step(g);
    tf.dispose(Object.values(g));
    expect(tf.memory().numTensors).toBe(before); // nothing leaks per step
  }
  const out = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, Array.from(p.dataSync())]));
  const path = opt.path;
  opt.dispose();
  tf.dispose(Object.values(params));
  return { out, path };
}

/** optax's adafactor chain in float64 (lr a number), parameters of rank 1 and 2. */
function adafactorReference(init: Record<string, Arr>, shapes: Shapes, steps: number, o: AdafactorOptions = {}): Record<string, Arr> {
  const minDim = o.minDimSizeToFactor ?? 128;
  const decayRate = o.decayRate ?? 0.8;
  const eps = o.eps ?? 1e-30;
  const threshold = o.clippingThreshold === undefined ? 1 : o.clippingThreshold;
  const p = Object.fromEntries(Object.entries(init).map(([k, x]) => [k, x.map(Math.fround)]));
  const st: Record<string, { R: Arr; C: Arr; V: Arr; M: Arr }> = {};
  for (const [k, x] of Object.entries(init)) st[k] = { R: [], C: [], V: x.map(() => 0), M: x.map(() => 0) };
  for (let t = 0; t < steps; t++) {
    const beta = 1 - Math.pow(t - (o.decayOffset ?? 0) + 1, -decayRate);
    Object.keys(init).forEach((k, i) => {
      const shape = shapes[k]!;
      const g = gradOf(init[k]!.length, t, i);
      const s = g.map((x) => x * x + eps);
      const S = st[k]!;
      let u: Arr;
      const rows = shape[0]!;
      const cols = g.length / rows;
      if ((o.factored ?? true) && shape.length === 2 && Math.min(rows, cols) >= minDim) {
        if (S.R.length === 0) [S.R, S.C] = [Array<number>(rows).fill(0), Array<number>(cols).fill(0)];
        S.R = S.R.map((x, r) => beta * x + (1 - beta) * (sum(s.slice(r * cols, (r + 1) * cols)) / cols));
        S.C = S.C.map((x, c) => beta * x + (1 - beta) * (sum(S.R.map((_, r) => s[r * cols + c]!)) / rows));
        const meanR = sum(S.R) / rows;
        u = g.map((x, e) => x / Math.sqrt((S.R[Math.floor(e / cols)]! * S.C[e % cols]!) / meanR));
      } else {
        S.V = S.V.map((x, e) => beta * x + (1 - beta) * s[e]!);
        u = g.map((x, e) => x / Math.sqrt(S.V[e]!));
      }
      if (threshold !== null) {
        const clip = Math.max(1, rms(u) / threshold);
        u = u.map((x) => x / clip);
      }
      if (typeof o.lr === 'number') u = u.map((x) => x * (o.lr as number));
      const pk = p[k]!;
      if (o.multiplyByParameterScale ?? true) {
        const scale = rms(pk) <= 1e-3 ? 1e-3 : rms(pk);
        u = u.map((x) => x * scale);
      }
      if (o.momentum != null) {
        S.M = S.M.map((m, e) => (o.momentum as number) * m + (1 - (o.momentum as number)) * u[e]!);
        u = S.M;
      }
      if (o.weightDecayRate != null) u = u.map((x, e) => x + (o.weightDecayRate as number) * pk[e]!);
      p[k] = pk.map((x, e) => x - u[e]!);
    });
  }
  return p;
}

/** optax's lamb chain in float64 (lr a number). */
function lambReference(init: Record<string, Arr>, steps: number, o: LambOptions = {}): Record<string, Arr> {
  const { b1 = 0.9, b2 = 0.999, eps = 1e-6, epsRoot = 0, weightDecay = 0 } = o;
  const lr = (o.lr as number | undefined) ?? 1e-3;
  const p = Object.fromEntries(Object.entries(init).map(([k, x]) => [k, x.map(Math.fround)]));
  const m = Object.fromEntries(Object.entries(init).map(([k, x]) => [k, x.map(() => 0)]));
  const v = Object.fromEntries(Object.entries(init).map(([k, x]) => [k, x.map(() => 0)]));
  for (let t = 0; t < steps; t++) {
    Object.keys(init).forEach((k, i) => {
      const g = gradOf(init[k]!.length, t, i);
      m[k] = m[k]!.map((x, e) => b1 * x + (1 - b1) * g[e]!);
      v[k] = v[k]!.map((x, e) => b2 * x + (1 - b2) * g[e]! ** 2);
      let u = m[k]!.map((x, e) => x / (1 - b1 ** (t + 1)) / (Math.sqrt(v[k]![e]! / (1 - b2 ** (t + 1)) + epsRoot) + eps));
      u = u.map((x, e) => x + weightDecay * p[k]![e]!);
      const pn = norm(p[k]!);
      const un = norm(u);
      const ratio = pn === 0 || un === 0 ? 1 : pn / un;
      p[k] = p[k]!.map((x, e) => x - lr * ratio * u[e]!);
    });
  }
  return p;
}

/** Each entry within `rtol * max(1, |expected|)` (float32 against float64). */
function expectNear(actual: Record<string, Arr>, expected: Record<string, Arr>, rtol: number) {
  for (const [k, x] of Object.entries(expected)) {
    expect(actual[k]).toHaveLength(x.length);
    const worst = Math.max(...x.map((e, i) => Math.abs(actual[k]![i]! - e) / Math.max(1, Math.abs(e))));
    expect(worst, k).toBeLessThan(rtol);
  }
}

const init = { w: [0.5, -1, 2, 0.25, -0.75, 1.5], b: [0, 0] };
const shapes = { w: [2, 3], b: [2] };

describe('adafactor (optax adafactor)', () => {
  it('defaults: no learning rate, clipped to rms 1, times max(rms(p), 1e-3), descent', () => {
    // With the defaults a [2, 3] matrix is not factored (2 < 128): the first step is
    // -sign(g) * rms(p) after the block clip (rms of sign(g) over the non-zero entries <= 1).
    const { out } = runOptimizer(adafactor(), init, shapes, 5);
    expectNear(out, adafactorReference(init, shapes, 5), 1e-6);
    // b is zero: its steps are 1e-3 * the clipped update
    expect(Math.abs(out.b![0]!)).toBeLessThan(5 * 1e-3 + 1e-9);
  });

  it('the defaults are optax\'s (same as spelling them out)', () => {
    const spelled = adafactor({ minDimSizeToFactor: 128, decayRate: 0.8, decayOffset: 0, multiplyByParameterScale: true, clippingThreshold: 1, momentum: null, weightDecayRate: null, eps: 1e-30, factored: true });
    expect(runOptimizer(spelled, init, shapes, 4).out).toEqual(runOptimizer(adafactor(), init, shapes, 4).out);
  });

  it('factored, with a learning rate, momentum and weight decay', () => {
    const o: AdafactorOptions = { lr: 0.05, minDimSizeToFactor: 2, momentum: 0.9, weightDecayRate: 0.01, clippingThreshold: 0.5, decayRate: 0.7 };
    const { out } = runOptimizer(adafactor(o), init, shapes, 6);
    expectNear(out, adafactorReference(init, shapes, 6, o), 1e-6);
  });

  it('factors a [128, 130] matrix at the default minDimSizeToFactor', () => {
    const big = { k: Array.from({ length: 128 * 130 }, (_, e) => Math.cos(e) * 0.1) };
    const bigShapes = { k: [128, 130] };
    const { out } = runOptimizer(adafactor({ lr: 1 }), big, bigShapes, 2);
    expectNear(out, adafactorReference(big, bigShapes, 2, { lr: 1 }), 1e-6);
  });

  it('clippingThreshold null and multiplyByParameterScale false leave the raw rescaled gradient', () => {
    const o: AdafactorOptions = { lr: 0.01, clippingThreshold: null, multiplyByParameterScale: false, factored: false, minDimSizeToFactor: 1 };
    const { out } = runOptimizer(adafactor(o), init, shapes, 3);
    expectNear(out, adafactorReference(init, shapes, 3, o), 1e-6);
  });

  it('refuses unknown and bad options, naming them', () => {
    expect(() => adafactor({ learningRate: 1 } as AdafactorOptions)).toThrowError(/adafactor: unknown option 'learningRate'; known options: lr, minDimSizeToFactor/);
    expect(() => adafactor({ lr: -1 })).toThrowError(/adafactor: option 'lr' must be in \[0, inf\)/);
    expect(() => adafactor({ minDimSizeToFactor: 0 })).toThrowError(/option 'minDimSizeToFactor' must be an integer >= 1/);
    expect(() => adafactor({ decayOffset: -1 })).toThrowError(/option 'decayOffset' must be an integer >= 0/);
    expect(() => adafactor({ clippingThreshold: 0 })).toThrowError(/option 'clippingThreshold' must be in \(0, inf\)/);
    expect(() => adafactor({ momentum: 1 })).toThrowError(/option 'momentum' must be in \[0, 1\)/);
    expect(() => adafactor({ weightDecayRate: -0.1 })).toThrowError(/option 'weightDecayRate'/);
    expect(() => adafactor({ eps: Number.NaN })).toThrowError(/option 'eps' must be a finite number/);
    expect(() => adafactor({ factored: 'no' as unknown as boolean })).toThrowError(/option 'factored'/);
    expect(() => adafactor({ multiplyByParameterScale: 1 as unknown as boolean })).toThrowError(/option 'multiplyByParameterScale'/);
    expect(() => adafactor({ decayRate: -0.8 })).toThrowError(expect.objectContaining({ code: 'INVALID_OPTION' }) as EmosensError);
  });
});

describe('lamb (optax lamb)', () => {
  it('defaults: lr 1e-3, b1 0.9, b2 0.999, eps 1e-6, epsRoot 0, weightDecay 0', () => {
    // a zero parameter (b) has trust ratio 1: plain Adam steps of about 1e-3
    const { out } = runOptimizer(lamb(), init, shapes, 5);
    expectNear(out, lambReference(init, 5), 1e-6);
    const spelled = lamb({ lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-6, epsRoot: 0, weightDecay: 0 });
    expect(runOptimizer(spelled, init, shapes, 5).out).toEqual(out);
  });

  it('one step by hand: u = sign(g) (Adam\'s first step), scaled to ||p|| by the trust ratio', () => {
    // step 1: m_hat = g, v_hat = g^2, u = g / (|g| + 1e-6) ~ sign(g); ratio = ||p|| / ||u||.
    // p = (3, 4), g = (1, -1): ||p|| = 5, ||u|| = sqrt(2): p - 0.1 * 5 / sqrt(2) * (1, -1)
    const params = { w: tf.variable(tf.tensor1d([3, 4])) };
    const opt = statefulOptimizer(lamb({ lr: 0.1 }), params, { fused: false });
    const g = { w: tf.tensor1d([1, -1]) };
    opt.step(g);
    const step = 0.5 / Math.sqrt(2);
    expect(Array.from(params.w.dataSync())).toEqual([expect.closeTo(3 - step, 5), expect.closeTo(4 + step, 5)]);
    opt.dispose();
    tf.dispose([params.w, g.w]);
  });

  it('with weight decay, epsRoot and other betas', () => {
    const o: LambOptions = { lr: 0.01, b1: 0.8, b2: 0.99, eps: 1e-4, epsRoot: 1e-3, weightDecay: 0.1 };
    const { out } = runOptimizer(lamb(o), init, shapes, 6);
    expectNear(out, lambReference(init, 6, o), 1e-6);
  });

  it('refuses unknown and bad options, naming them', () => {
    expect(() => lamb({ betas: [0.9, 0.99] } as LambOptions)).toThrowError(/lamb: unknown option 'betas'; known options: lr, b1, b2, eps, epsRoot, weightDecay/);
    expect(() => lamb({ b1: 1 })).toThrowError(/lamb: option 'b1' must be in \[0, 1\)/);
    expect(() => lamb({ b2: -0.1 })).toThrowError(/option 'b2'/);
    expect(() => lamb({ eps: -1 })).toThrowError(/option 'eps'/);
    expect(() => lamb({ epsRoot: -1 })).toThrowError(/option 'epsRoot'/);
    expect(() => lamb({ weightDecay: -1 })).toThrowError(/option 'weightDecay'/);
    expect(() => lamb({ lr: Number.NaN })).toThrowError(expect.objectContaining({ code: 'INVALID_OPTION' }) as EmosensError);
  });
});

describe("fused on the cpu target, 'fast' precision (the default), agrees with composed", () => {
  // 'fast' computes an element's arithmetic in float64 and folds the update: within float32 rounding of composed
  const big = { w: Array.from({ length: 130 * 129 }, (_, e) => Math.cos(e) * 0.1), t: Array.from({ length: 12 }, (_, e) => Math.sin(e)), b: [0, 0.5, -0.5] };
  const bigShapes = { w: [130, 129], t: [4, 3], b: [3] };
  const cases: Record<string, () => GradientTransformation<StateValue>> = {
    'adafactor()': () => adafactor(),
    'adafactor factored (t, and w at the default 128), momentum, weight decay': () => adafactor({ lr: 0.05, momentum: 0.9, weightDecayRate: 0.01 }),
    'adafactor minDimSizeToFactor 3': () => adafactor({ lr: 0.05, minDimSizeToFactor: 3 }),
    'lamb with weight decay': () => lamb({ lr: 1e-2, weightDecay: 0.05 }),
    'chain(adaptiveGradClip, lamb)': () => chain(adaptiveGradClip({ clipping: 0.05 }), lamb({ lr: 1e-2 })) as GradientTransformation<StateValue>,
  };
  for (const [label, make] of Object.entries(cases)) {
    it(label, () => {
      const composed = runOptimizer(make(), big, bigShapes, 4);
      const unregister = registerCpuKernels();
      try {
        const fused = runOptimizer(make(), big, bigShapes, 4, true);
        expect([composed.path, fused.path]).toEqual(['composed', 'fused']);
        expectNear(fused.out, composed.out, 1e-5);
      } finally {
        unregister();
      }
    });
  }
});

describe('fused on the cpu target equals composed, bit for bit', () => {
  const cases: Record<string, () => GradientTransformation<StateValue>> = {
    'adafactor()': () => adafactor(),
    'adafactor factored, lr schedule, momentum, weight decay': () =>
      adafactor({ lr: (t) => 0.05 / (1 + t), minDimSizeToFactor: 2, momentum: 0.9, weightDecayRate: 0.01 }),
    'lamb()': () => lamb(),
    'lamb with weight decay and epsRoot': () => lamb({ lr: (t) => 0.01 * 0.9 ** t, weightDecay: 0.05, epsRoot: 1e-4 }),
  };
  for (const [label, make] of Object.entries(cases)) {
    it(label, () => {
      const composed = runOptimizer(make(), init, shapes, 6);
      const unregister = registerCpuKernels({ precision: 'exact' });
      try {
        expect(explainFusion(chain(make()), 'cpu')).toEqual({ fused: true, target: 'typed-array' });
        const fused = runOptimizer(make(), init, shapes, 6, true);
        expect([composed.path, fused.path]).toEqual(['composed', 'fused']);
        expect(fused.out).toEqual(composed.out);
        expect(fused.out.w).not.toEqual(init.w);
      } finally {
        unregister();
      }
    });
  }
});
