import * as tf from '@tensorflow/tfjs-core';
import { chain, elementwise, EmosensError, flattenState, fx, statefulOptimizer, unflattenState, type StateValue } from '@emosens/core';
import { describe, expect, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle.
import { registerCpuKernels } from '../../backend-cpu/src/index.js';
import { scaleByFreshnessMoment } from '../src/index.js';
import { expectTrajectoryClose, trajectory, type Param } from '../../conformance/src/host-values.js';

/** EmoTion's step after the moment, with a fixed pulse: p -= 0.05 sign(m). */
const signStep = () => elementwise('signStep', (u) => fx.mul(fx.sign(u), -0.05));
const make = (b1 = 0.9) => chain(scaleByFreshnessMoment({ b1 }), signStep());
// Gradients that flip sign now and then, so the moment's sign lags the gradient's.
const grad = (t: number, k: string, n: number) => Array.from({ length: n }, (_, i) => Math.sin(1 + 0.7 * i + 1.3 * t + k.charCodeAt(0)) + 0.2);

const params: Record<string, Param> = {
  a: { values: [0.5], shape: [] },
  b: { values: [1, -2, 3], shape: [3] },
  c: { values: [1, 2, -3, 4, 0.5, -0.25], shape: [2, 3] },
  d: { values: [2, 1, -2, 0.5, 1.5, -1, 0.75, 3], shape: [2, 2, 2] },
};

/** The reference (emotion.py v3.9.1, without emoPulse: a fixed pulse 0.05) in float64. */
function reference(steps: number, b1 = 0.9) {
  const p = Object.fromEntries(Object.entries(params).map(([k, x]) => [k, [...x.values]]));
  const m = Object.fromEntries(Object.entries(params).map(([k, x]) => [k, x.values.map(() => 0)]));
  let prev: number | undefined;
  const out: Record<string, number[]>[] = [];
  const moments: Record<string, number[]>[] = [];
  const prevs: number[] = [];
  for (let t = 0; t < steps; t++) {
    let norm = Object.values(p).reduce((acc, w) => acc + w.reduce((x, y) => x + Math.abs(y), 0), 0);
    let fresh = 1;
    if (prev !== undefined) {
      const ratio = Math.abs(norm - prev) / (prev + 1e-8);
      fresh = Math.max(Math.tanh(ratio / 0.03), 1 - b1);
      norm *= ratio;
    }
    prev = norm;
    const a = (1 - b1) * fresh;
    for (const k of Object.keys(p)) {
      const g = grad(t, k, p[k]!.length);
      for (let i = 0; i < g.length; i++) {
        m[k]![i] = (1 - a) * m[k]![i]! + a * g[i]!;
        p[k]![i] = p[k]![i]! - 0.05 * Math.sign(m[k]![i]!);
      }
    }
    out.push(Object.fromEntries(Object.entries(p).map(([k, w]) => [k, [...w]])));
    moments.push(Object.fromEntries(Object.entries(m).map(([k, w]) => [k, [...w]])));
    prevs.push(prev);
  }
  return { params: out, moments, prevs };
}

describe('scaleByFreshnessMoment', () => {
  it('takes fresh = 1 on the first step, then max(tanh(ratio / 0.03), 1 - b1) (hand-derived)', () => {
    // One parameter w = [1, -3], g = [1, 2] both steps, p -= 0.05 sign(m):
    // step 1: L = 4, fresh = 1, a = 0.1: m = [0.1, 0.2], p = [0.95, -3.05], prev = 4.
    // step 2: L = 4 (0.95 + 3.05), ratio = 0 / 4 = 0, fresh = max(tanh(0), 0.1) = 0.1, a = 0.01:
    //         m = 0.99 [0.1, 0.2] + 0.01 [1, 2] = [0.109, 0.218]; prev = L * ratio = 0.
    // step 3: L = 0.9 + 3.1 = 4, ratio = 4 / 1e-8, fresh = 1, a = 0.1: m = 0.9 m + 0.1 g = [0.1981, 0.3962].
    const opt = statefulOptimizer(make(), { w: tf.tensor([1, -3]) }, { fused: false });
    const mu = () => Array.from((opt.state[0] as { mu: Record<string, tf.Tensor> }).mu.w!.dataSync());
    const prev = () => (opt.state[0] as { prev: tf.Tensor }).prev.dataSync()[0];
    opt.step({ w: tf.tensor([1, 2]) });
    expect(mu()).toEqual([expect.closeTo(0.1, 6), expect.closeTo(0.2, 6)]);
    expect(prev()).toBe(4);
    opt.step({ w: tf.tensor([1, 2]) });
    expect(mu()).toEqual([expect.closeTo(0.109, 6), expect.closeTo(0.218, 6)]);
    expect(prev()).toBeCloseTo(0, 6);
    opt.step({ w: tf.tensor([1, 2]) });
    expect(mu()).toEqual([expect.closeTo(0.1981, 6), expect.closeTo(0.3962, 6)]);
    expect(Array.from(opt.params.w!.dataSync())).toEqual([expect.closeTo(0.85, 6), expect.closeTo(-3.15, 6)]);
    opt.dispose();
  });

  it('composed follows the float64 reference over 10 steps on ranks 0 to 3', () => {
    expectTrajectoryClose(trajectory(make, params, grad, 10, false), reference(10).params);
    expectTrajectoryClose(trajectory(() => make(0.5), params, grad, 10, false), reference(10, 0.5).params);
  });

  it('fused on the cpu target equals composed within 1e-6', () => {
    const unregister = registerCpuKernels();
    try {
      const fused = trajectory(make, params, grad, 10, true);
      expectTrajectoryClose(fused, trajectory(make, params, grad, 10, false), 1e-6, 0);
    } finally {
      unregister();
    }
  });

  it("keeps the moment at 'mu/<param>' (exp_avg) and resumes exactly from a saved state", () => {
    const init = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tensor([...p.values], [...p.shape])]));
    const g = (t: number) => Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tensor(grad(t, k, p.values.length), [...p.shape])]));
    const ref = reference(6);
    const whole = statefulOptimizer(make(), init);
    for (let t = 0; t < 6; t++) whole.step(g(t));
    const first = statefulOptimizer(make(), init);
    for (let t = 0; t < 3; t++) first.step(g(t));
    const leaves = flattenState(first.state);
    const leaf = (path: string) => Array.from((leaves.find((l) => l.path === path)!.value as tf.Tensor).dataSync());
    expectTrajectoryClose([{ c: leaf('0/mu/c') }], [{ c: ref.moments[2]!.c! }]);
    expectTrajectoryClose([{ prev: leaf('0/prev') }], [{ prev: [ref.prevs[2]!] }]);
    expect(leaf('0/started')).toEqual([1]);
    const saved = new Map(leaves.map((l) => [l.path, l.value instanceof tf.Tensor ? tf.clone(l.value) : l.value] as const));
    const resumed = statefulOptimizer(make(), Object.fromEntries(Object.entries(first.params).map(([k, p]) => [k, tf.clone(p)])));
    resumed.setState(unflattenState(resumed.state as StateValue, saved) as never);
    for (let t = 3; t < 6; t++) resumed.step(g(t));
    for (const k of Object.keys(params)) expect(Array.from(resumed.params[k]!.dataSync())).toEqual(Array.from(whole.params[k]!.dataSync()));
    [whole, first, resumed].forEach((o) => o.dispose());
  });

  it('refuses a b1 outside [0, 1), naming it (INVALID_OPTION)', () => {
    expect(() => scaleByFreshnessMoment({ b1: 1 })).toThrow(/scaleByFreshnessMoment: option 'b1' must be in \[0, 1\)/);
    expect(() => scaleByFreshnessMoment({ b1: -0.1 })).toThrow(EmosensError);
  });
});
