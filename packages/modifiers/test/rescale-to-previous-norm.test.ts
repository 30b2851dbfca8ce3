import * as tf from '@tensorflow/tfjs-core';
import { chain, elementwise, EmosensError, flattenState, fx, statefulOptimizer, unflattenState, type StateValue } from '@emosens/core';
import { describe, expect, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle
// (backend-cpu's tests depend on @emosens/modifiers), which turbo refuses.
import { registerCpuKernels } from '../../backend-cpu/src/index.js';
import { rescaleToPreviousNorm, withPreviousNormRescale } from '../src/index.js';
import { expectTrajectoryClose, publishValues, trajectory, type Param } from '../../conformance/src/host-values.js';

/** EmoVoid's step with a fixed pulse: u = -0.05 sign(g). */
const signStep = () => elementwise('signStep', (u) => fx.mul(fx.sign(u), -0.05));
/** An inner step that reads the parameters: u = -0.05 sign(g) - 0.1 p. */
const decayStep = () => elementwise('decayStep', (u, p) => fx.sub(fx.mul(fx.sign(u), -0.05), fx.mul(p, 0.1)));
/** shouldStop per step: turns on at steps 6 and 9 (1-based). */
const stops = [0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0];
const hostValues = stops.map((x) => ({ shouldStop: x }));
const grad = (t: number, k: string, n: number) => Array.from({ length: n }, (_, i) => Math.sin(1 + 0.7 * i + 1.3 * t + k.charCodeAt(0)) + 0.1);

const params: Record<string, Param> = {
  a: { values: [0.5], shape: [] },
  b: { values: [1, -2, 3], shape: [3] },
  c: { values: [1, 2, -3, 4, 0.5, -0.25], shape: [2, 3] },
  d: { values: [2, 1, -2, 0.5, 1.5, -1, 0.75, 3], shape: [2, 2, 2] },
};

/**
 * The reference (emovoid.py v3.9.1, fixed pulse 0.05) in float64: rescale, then the step
 * (`decay` adds -0.1 p of the rescaled p); shouldStop turning on sets the count to `steps`.
 */
function reference(n: number, steps: number, decay = false, restart = true) {
  const p = Object.fromEntries(Object.entries(params).map(([k, x]) => [k, [...x.values]]));
  let prev: number | undefined;
  let count = 0;
  let last = 0;
  const out: Record<string, number[]>[] = [];
  for (let t = 0; t < n; t++) {
    let norm = Object.values(p).reduce((acc, w) => acc + w.reduce((x, y) => x + Math.abs(y), 0), 0);
    const current = count;
    count = current + 1;
    if (prev !== undefined && current <= steps) {
      const factor = prev / (norm + 1e-8);
      for (const w of Object.values(p)) w.forEach((x, i) => (w[i] = x * factor));
      norm *= factor;
    }
    prev = norm;
    for (const [k, w] of Object.entries(p)) {
      const g = grad(t, k, w.length);
      w.forEach((x, i) => (w[i] = x - 0.05 * Math.sign(g[i]!) - (decay ? 0.1 * x : 0)));
    }
    if (restart && stops[t] === 1 && last === 0) count = steps;
    last = restart ? stops[t]! : 0;
    out.push(Object.fromEntries(Object.entries(p).map(([k, w]) => [k, [...w]])));
  }
  return out;
}

const make = (steps = 3) => chain(publishValues(hostValues), signStep(), rescaleToPreviousNorm({ steps }));
const makeWrapped = (steps = 3) => chain(publishValues(hostValues), withPreviousNormRescale(decayStep(), { steps }));

describe('rescaleToPreviousNorm', () => {
  it('rescales from the second step so that the L1 norm stays (hand-derived)', () => {
    // w = [1, -3], g = [1, -1]: step 1 (n = 0): no previous L; prev = 4; p = [0.95, -2.95] (L1 3.9).
    // step 2 (n = 1): factor = 4 / 3.9: p = [0.974359, -3.025641], prev = 4; then p -= 0.05 sign(g): [0.924359, -2.975641].
    const opt = statefulOptimizer(chain(signStep(), rescaleToPreviousNorm({ restartOnStop: false })), { w: tf.tensor([1, -3]) }, { fused: false });
    opt.step({ w: tf.tensor([1, -1]) });
    expect(Array.from(opt.params.w!.dataSync())).toEqual([expect.closeTo(0.95, 6), expect.closeTo(-2.95, 6)]);
    opt.step({ w: tf.tensor([1, -1]) });
    expect(Array.from(opt.params.w!.dataSync())).toEqual([expect.closeTo((0.95 * 4) / 3.9 - 0.05, 6), expect.closeTo((-2.95 * 4) / 3.9 + 0.05, 6)]);
    const s = opt.state[1] as { prev: tf.Tensor; count: tf.Tensor; stopped: tf.Tensor };
    expect(s.prev.dataSync()[0]).toBeCloseTo(4, 5);
    expect(s.count.dataSync()[0]).toBe(2);
    opt.dispose();
  });

  it('composed follows the float64 reference: warm-up, its end, and the restarts on shouldStop', () => {
    expectTrajectoryClose(trajectory(make, params, grad, 12, false), reference(12, 3));
    // the restarts matter: without them steps 7 and 10 are not rescaled
    expect(reference(12, 3)[6]).not.toEqual(reference(12, 3, false, false)[6]);
    expectTrajectoryClose(trajectory(() => make(55), params, grad, 12, false), reference(12, 55));
    const noRestart = () => chain(signStep(), rescaleToPreviousNorm({ steps: 3, restartOnStop: false }));
    expectTrajectoryClose(trajectory(noRestart, params, grad, 12, false), reference(12, 3, false, false));
  });

  it('withPreviousNormRescale runs the inner block on the rescaled parameters', () => {
    expectTrajectoryClose(trajectory(makeWrapped, params, grad, 12, false), reference(12, 3, true));
  });

  it('fused on the cpu target equals composed within 1e-6', () => {
    const unregister = registerCpuKernels();
    try {
      for (const m of [make, makeWrapped]) {
        const fused = trajectory(m, params, grad, 12, true);
        expectTrajectoryClose(fused, trajectory(m, params, grad, 12, false), 1e-6, 0);
      }
    } finally {
      unregister();
    }
  });

  it("keeps 'prev', the count and last shouldStop on the device; resumes exactly from a saved state", () => {
    const init = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tensor([...p.values], [...p.shape])]));
    const g = (t: number) => Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tensor(grad(t, k, p.values.length), [...p.shape])]));
    const whole = statefulOptimizer(make(), init);
    for (let t = 0; t < 10; t++) whole.step(g(t));
    const first = statefulOptimizer(make(), init);
    for (let t = 0; t < 6; t++) first.step(g(t));
    const leaves = flattenState(first.state);
    const at = (path: string) => Array.from((leaves.find((l) => l.path === path)!.value as tf.Tensor).dataSync());
    expect(at('2/prev')[0]).toBeGreaterThan(0);
    expect(at('2/count')).toEqual([3]); // shouldStop turned on at step 6
    expect(at('2/stopped')).toEqual([1]);
    const saved = new Map(leaves.map((l) => [l.path, l.value instanceof tf.Tensor ? tf.clone(l.value) : l.value] as const));
    const resumed = statefulOptimizer(make(), Object.fromEntries(Object.entries(first.params).map(([k, p]) => [k, tf.clone(p)])));
    resumed.setState(unflattenState(resumed.state as StateValue, saved) as never);
    for (let t = 6; t < 10; t++) resumed.step(g(t));
    for (const k of Object.keys(params)) expect(Array.from(resumed.params[k]!.dataSync())).toEqual(Array.from(whole.params[k]!.dataSync()));
    [whole, first, resumed].forEach((o) => o.dispose());
  });

  it('a step skipped for non-finite gradients (skipNonFinite) leaves the state as it was, on both paths', () => {
    const make = () => chain(signStep(), rescaleToPreviousNorm({ steps: 3, restartOnStop: false }));
    const grads = (t: number) => Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tensor(grad(t, k, p.values.length), [...p.shape])]));
    const nan = () => Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.fill([...p.shape], NaN)]));
    for (const fused of [false, true]) {
      const unregister = fused ? registerCpuKernels() : undefined;
      const init = () => Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tensor([...p.values], [...p.shape])]));
      const skipping = statefulOptimizer(make(), init(), { skipNonFinite: true });
      const plain = statefulOptimizer(make(), init());
      for (let t = 0; t < 6; t++) {
        if (t === 2 || t === 4) skipping.step(nan());
        skipping.step(grads(t));
        plain.step(grads(t));
      }
      expect(skipping.path).toBe(fused ? 'fused' : 'composed');
      for (const k of Object.keys(params)) expect(Array.from(skipping.params[k]!.dataSync())).toEqual(Array.from(plain.params[k]!.dataSync()));
      expect(Array.from((skipping.state[1] as { count: tf.Tensor }).count.dataSync())).toEqual([6]);
      skipping.dispose();
      plain.dispose();
      unregister?.();
    }
  });

  it('names a missing shouldStop (MISSING_SIGNAL) unless restartOnStop is false', () => {
    const opt = statefulOptimizer(chain(signStep(), rescaleToPreviousNorm()), { w: tf.zeros([2]) });
    try {
      opt.step({ w: tf.ones([2]) });
      expect.fail('expected MISSING_SIGNAL');
    } catch (e) {
      expect(e).toBeInstanceOf(EmosensError);
      expect((e as EmosensError).code).toBe('MISSING_SIGNAL');
      expect((e as Error).message).toMatch(/shouldStop/);
    }
    opt.dispose();
    const quiet = statefulOptimizer(chain(signStep(), rescaleToPreviousNorm({ restartOnStop: false })), { w: tf.zeros([2]) });
    expect(() => quiet.step({ w: tf.ones([2]) })).not.toThrow();
    quiet.dispose();
  });

  it('refuses bad options, naming them (INVALID_OPTION)', () => {
    expect(() => rescaleToPreviousNorm({ steps: 1.5 })).toThrow(/rescaleToPreviousNorm: option 'steps' must be an integer >= 0/);
    expect(() => rescaleToPreviousNorm({ steps: -1 })).toThrow(EmosensError);
    expect(() => withPreviousNormRescale(signStep(), { restartOnStop: 'yes' as unknown as boolean })).toThrow(/withPreviousNormRescale: option 'restartOnStop'/);
  });
});
