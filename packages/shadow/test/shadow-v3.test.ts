import * as tf from '@tensorflow/tfjs-core';
import { chain, elementwise, EmosensError, flattenState, fx, statefulOptimizer, unflattenState, type StateValue } from '@emosens/core';
import { describe, expect, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle.
import { registerCpuKernels } from '../../backend-cpu/src/index.js';
import { withShadow } from '../src/index.js';
import { expectTrajectoryClose, publishValues, trajectory, type Param } from '../../conformance/src/host-values.js';

/** The inner step: u = -0.5 g - 0.1 p (reads the parameters, so it sees the blended p). */
const inner = () => elementwise('halfStepDecay', (u, p) => fx.sub(fx.mul(u, -0.5), fx.mul(p, 0.1)));
/** The emotion scalar per step; trust = copysign(1 - |s|, s). */
const emotions = [0, 0.7, -0.3, -0.9, 0.65, 0.2, -0.625, 0.8];
const hostValues = emotions.map((s) => ({ emotion: s, trust: Math.sign(1 / s) * (1 - Math.abs(s)) }));
const make = () => chain(publishValues(hostValues), withShadow(inner(), { rule: 'v3' }));
const grad = (t: number, _k: string, n: number) => Array.from({ length: n }, (_, i) => 0.3 * (i + 1) * (t % 2 === 0 ? 1 : -1) + 0.01 * t);

const params: Record<string, Param> = {
  a: { values: [0.5], shape: [] },
  b: { values: [1, -2, 3], shape: [3] },
  c: { values: [1, 2, -3, 4, 0.5, -0.25], shape: [2, 3] },
  d: { values: [2, 1, -2, 0.5, 1.5, -1, 0.75, 3], shape: [2, 2, 2] },
};

/** The reference (emosens.py v3.9.1, shadow on) in float64: shadow first, then the inner step on the blended p. */
function reference(steps: number): Record<string, number[]>[] {
  const p = Object.fromEntries(Object.entries(params).map(([k, x]) => [k, [...x.values]]));
  const shadow: Record<string, number[]> = {};
  const out: Record<string, number[]>[] = [];
  for (let t = 0; t < steps; t++) {
    const s = emotions[t]!;
    const trust = Math.abs(hostValues[t]!.trust);
    const ratio = Math.abs(s) > 0.625 ? 1 - Math.abs(s) : 0;
    for (const k of Object.keys(p)) {
      const w = p[k]!;
      shadow[k] ??= [...w];
      const sh = shadow[k];
      const g = grad(t, k, w.length);
      for (let i = 0; i < w.length; i++) {
        if (ratio > 0) w[i] = (1 - ratio) * w[i]! + trust * sh[i]!;
        else sh[i] = sh[i]! + 0.1 * trust * (w[i]! - sh[i]!);
        w[i] = w[i]! - 0.5 * g[i]! - 0.1 * w[i]!;
      }
    }
    out.push(Object.fromEntries(Object.entries(p).map(([k, w]) => [k, [...w]])));
  }
  return out;
}

describe('withShadow, rule v3', () => {
  it('takes the copy, follows while calm and blends while |s| > 0.625 (hand-derived)', () => {
    // a = 0.5. Step 1: s = 0, |trust| = 1, ratio 0: shadow = 0.5, then 0.5 + 0.1 (0.5 - 0.5) = 0.5;
    //   g = 0.3: p = 0.5 - 0.15 - 0.05 = 0.3.
    // Step 2: s = 0.7, ratio = 0.3, |trust| = 0.3: p' = 0.7 * 0.3 + 0.3 * 0.5 = 0.36 (shadow stays 0.5);
    //   g = -0.3 + 0.01 = -0.29: p = 0.36 + 0.145 - 0.036 = 0.469.
    const r = trajectory(make, { a: params.a! }, grad, 2, false);
    expect(r[0]!.a![0]).toBeCloseTo(0.3, 6);
    expect(r[1]!.a![0]).toBeCloseTo(0.469, 6);
  });

  it('composed follows the float64 reference over 8 steps on ranks 0 to 3', () => {
    expectTrajectoryClose(trajectory(make, params, grad, 8, false), reference(8));
  });

  it('fused on the cpu target equals composed within 1e-6', () => {
    const unregister = registerCpuKernels();
    try {
      const fused = trajectory(make, params, grad, 8, true);
      expectTrajectoryClose(fused, trajectory(make, params, grad, 8, false), 1e-6, 0);
      expectTrajectoryClose(fused, reference(8));
    } finally {
      unregister();
    }
  });

  it("keeps the shadow at 'shadow/<param>/value' and resumes exactly from a saved state", () => {
    const init = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tensor([...p.values], [...p.shape])]));
    const g = (t: number) => Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tensor(grad(t, k, p.values.length), [...p.shape])]));
    const whole = statefulOptimizer(make(), init);
    for (let t = 0; t < 6; t++) whole.step(g(t));

    const first = statefulOptimizer(make(), init);
    for (let t = 0; t < 3; t++) first.step(g(t));
    const leaves = flattenState(first.state);
    expect(leaves.map((l) => l.path)).toContain('1/shadow/d/value');
    expect(leaves.map((l) => l.path)).toContain('1/shadow/d/taken');
    // After step 3 (s = -0.3, ratio 0) the shadow of `a` followed p: hand-checked against the reference.
    const shadowA = leaves.find((l) => l.path === '1/shadow/a/value')!.value as tf.Tensor;
    const p2 = 0.469;
    expect(shadowA.dataSync()[0]).toBeCloseTo(0.5 + 0.1 * 0.7 * (p2 - 0.5), 6);
    const saved = new Map(leaves.map((l) => [l.path, l.value instanceof tf.Tensor ? tf.clone(l.value) : l.value] as const));
    const params3 = Object.fromEntries(Object.entries(first.params).map(([k, p]) => [k, tf.clone(p)]));

    const resumed = statefulOptimizer(make(), params3);
    resumed.setState(unflattenState(resumed.state as StateValue, saved) as never);
    for (let t = 3; t < 6; t++) resumed.step(g(t));
    for (const k of Object.keys(params)) expect(Array.from(resumed.params[k]!.dataSync())).toEqual(Array.from(whole.params[k]!.dataSync()));
    [whole, first, resumed].forEach((o) => o.dispose());
  });

  it('names a missing host value (MISSING_SIGNAL)', () => {
    const opt = (values: Record<string, number>) => statefulOptimizer(chain(publishValues([values]), withShadow(inner(), { rule: 'v3' })), { w: tf.zeros([2]) });
    const code = (f: () => void) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(EmosensError);
        return { code: (e as EmosensError).code, message: (e as Error).message };
      }
      return undefined;
    };
    const noEmotion = code(() => opt({}).step({ w: tf.ones([2]) }));
    expect(noEmotion?.code).toBe('MISSING_SIGNAL');
    expect(noEmotion?.message).toMatch(/emotion/);
    const noTrust = code(() => opt({ emotion: 0.1 }).step({ w: tf.ones([2]) }));
    expect(noTrust?.code).toBe('MISSING_SIGNAL');
    expect(noTrust?.message).toMatch(/trust/);
  });

  it('refuses a bad rule, and v2\'s follow with rule v3 (INVALID_OPTION)', () => {
    expect(() => withShadow(inner(), { rule: 'v4' as 'v3' })).toThrow(/withShadow: option 'rule' must be 'v2' or 'v3'/);
    expect(() => withShadow(inner(), { rule: 'v3', follow: 0.1 })).toThrow(/option 'follow'/);
    try {
      withShadow(inner(), { rule: 'v3', follow: 0.1 });
    } catch (e) {
      expect((e as EmosensError).code).toBe('INVALID_OPTION');
    }
  });
});
