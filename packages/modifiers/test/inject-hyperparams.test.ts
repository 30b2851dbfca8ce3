import * as tf from '@tensorflow/tfjs-core';
import {
  chain,
  EmosensError,
  explainFusion,
  flattenState,
  isTensor,
  runTransform,
  statefulOptimizer,
  unflattenState,
  type GradientTransformation,
  type StateValue,
} from '@emosens/core';
import { scaleByAdam } from '@emosens/moments';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle.
import { registerCpuKernels } from '../../backend-cpu/src/index.js';
import { getHyperparams, injectHyperparams, scaleByLearningRate, setHyperparams, type InjectHyperparamsState, type Schedule } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());
const adamWith = (h: { readonly lr: number; readonly b1: number }) => chain(scaleByAdam({ b1: h.b1 }), scaleByLearningRate(h.lr));
const gradAt = (t: number) => ({ w: tf.tensor2d([Math.sin(t), -0.5, 2 * Math.cos(t), 0.25 + t], [2, 2]), b: tf.tensor1d([t % 2 ? 1 : -3]) });
const makeParams = () => ({ w: tf.tensor2d([0.5, -1, 2, 0.25], [2, 2]), b: tf.tensor1d([0.1]) });

/** Runs `tx` one step with runTransform; returns the updates' values and the new state. */
function stepOnce<S extends StateValue>(tx: GradientTransformation<S>, state: S, t: number) {
  const params = makeParams();
  const r = runTransform(tx, params, state, gradAt(t));
  return { updates: { w: v(r.updates.w), b: v(r.updates.b) }, state: r.state };
}

describe('injectHyperparams', () => {
  it('holds the values in its state as plain numbers, beside the inner state', () => {
    const tx = injectHyperparams(adamWith, { lr: 1e-3, b1: 0.9 });
    const state = tx.init(makeParams());
    expect(state.count).toBe(0);
    expect(getHyperparams(state)).toEqual({ lr: 1e-3, b1: 0.9 });
    expect(Array.isArray(state.inner)).toBe(true);
    expectTypeOf(state).toMatchTypeOf<InjectHyperparamsState<StateValue>>();
    expect(tx.name).toBe('injectHyperparams(chain(scaleByAdam, scaleByLearningRate))');
  });

  it('types the factory argument by the hyperparameters given, numbers and schedules alike', () => {
    injectHyperparams(
      (h) => {
        expectTypeOf(h).toEqualTypeOf<{ readonly lr: number; readonly b1: number }>();
        // @ts-expect-error a misspelt hyperparameter is a type error
        void h.lrr;
        return adamWith(h);
      },
      { lr: (t: number) => 1e-3 / (t + 1), b1: 0.9 },
    );
  });

  it('a value set between steps changes the next step exactly as a fresh chain with it would', () => {
    const tx = injectHyperparams(adamWith, { lr: 0.1, b1: 0.9 });
    const ref = adamWith({ lr: 0.1, b1: 0.9 });
    let s = tx.init(makeParams());
    let rs = ref.init(makeParams());
    for (let t = 0; t < 3; t++) {
      const a = stepOnce(tx, s, t);
      const b = stepOnce(ref, rs, t);
      expect(a.updates).toEqual(b.updates);
      s = a.state;
      rs = b.state;
    }
    s = setHyperparams(s, { lr: 0.01, b1: 0.5 });
    // the reference: a chain built with the new values, on the same moments
    const fresh = adamWith({ lr: 0.01, b1: 0.5 });
    const a = stepOnce(tx, s, 3);
    const b = stepOnce(fresh, rs, 3);
    expect(a.updates).toEqual(b.updates);
    expect(a.updates).not.toEqual(stepOnce(ref, rs, 3).updates);
    expect(a.state.count).toBe(4);
    expect(getHyperparams(a.state)).toEqual({ lr: 0.01, b1: 0.5 });
  });

  it('evaluates a schedule-valued hyperparameter at the step count', () => {
    const schedule: Schedule = (t) => 0.1 / (t + 1);
    const tx = injectHyperparams(adamWith, { lr: schedule, b1: 0.9 });
    const ref = chain(scaleByAdam({ b1: 0.9 }), scaleByLearningRate(schedule));
    let s = tx.init(makeParams());
    let rs = ref.init(makeParams());
    expect(getHyperparams(s).lr).toBe(0.1); // the schedule at step 0
    for (let t = 0; t < 4; t++) {
      const a = stepOnce(tx, s, t);
      const b = stepOnce(ref, rs, t);
      expect(a.updates).toEqual(b.updates);
      expect(getHyperparams(a.state).lr).toBe(0.1 / (t + 1)); // the value step t used
      s = a.state;
      rs = b.state;
    }
  });

  it('saves and restores with flattenState / unflattenState, resuming bit for bit', () => {
    const make = () => injectHyperparams(adamWith, { lr: 0.05, b1: 0.8 });
    const a = statefulOptimizer(make(), makeParams(), { fused: false });
    for (let t = 0; t < 3; t++) a.step(gradAt(t));
    a.setState(setHyperparams(a.state, { lr: 0.02 }));
    const saved = new Map(flattenState(a.state).map(({ path, value }) => [path, isTensor(value) ? tf.clone(value) : value]));
    expect(saved.get('hyperparams/lr')).toBe(0.02);
    expect(saved.get('count')).toBe(3);
    // a new process: the same parameters, a fresh transform, the saved state
    const b = statefulOptimizer(make(), Object.fromEntries(Object.entries(a.params).map(([k, p]) => [k, tf.clone(p)])), { fused: false });
    b.setState(unflattenState(b.state, saved));
    for (let t = 3; t < 6; t++) {
      a.step(gradAt(t));
      b.step(gradAt(t));
    }
    expect(v(b.params.w)).toEqual(v(a.params.w));
    expect(v(b.params.b)).toEqual(v(a.params.b));
    expect(getHyperparams(b.state)).toEqual({ lr: 0.02, b1: 0.8 });
    a.dispose();
    b.dispose();
  });

  it('refuses bad hyperparameters and bad values, naming them', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof EmosensError ? e.code : String(e);
      }
      return 'no error';
    };
    expect(() => injectHyperparams(adamWith, { lr: NaN, b1: 0.9 })).toThrow(/injectHyperparams: hyperparameter 'lr' must be a finite number or a schedule/);
    expect(code(() => injectHyperparams(adamWith, { lr: '1e-3' as unknown as number, b1: 0.9 }))).toBe('INVALID_OPTION');
    const s = injectHyperparams(adamWith, { lr: 1e-3, b1: 0.9 }).init(makeParams());
    expect(() => setHyperparams(s, { learningRate: 1 })).toThrow(/setHyperparams: no hyperparameter 'learningRate'; the state holds 'lr', 'b1'/);
    expect(() => setHyperparams(s, { lr: Infinity })).toThrow(/setHyperparams: hyperparameter 'lr' must be a finite number, got Infinity/);
    expect(code(() => setHyperparams(s, { lr: NaN }))).toBe('INVALID_OPTION');
    expect(code(() => getHyperparams({} as InjectHyperparamsState<StateValue>))).toBe('INVALID_STATE');
    // an invalid value built into the inner block fails there, naming its option
    expect(() => stepOnce(injectHyperparams(adamWith, { lr: 1e-3, b1: 0.9 }), setHyperparams(s, { b1: 1.5 }), 0)).toThrow(/scaleByAdam: option 'b1'/);
    // a schedule that returns NaN fails at that step
    const bad = injectHyperparams(adamWith, { lr: (t: number) => (t < 1 ? 0.1 : NaN), b1: 0.9 });
    const first = stepOnce(bad, bad.init(makeParams()), 0);
    expect(() => stepOnce(bad, first.state, 1)).toThrow(/the schedule of hyperparameter 'lr' returned NaN at step 1/);
  });

  it('refuses an inner block whose state layout depends on the values', () => {
    // amsgrad adds a max moment (nuMax) to Adam's state
    const tx = injectHyperparams((h) => chain(scaleByAdam({ amsgrad: h.ams > 0 }), scaleByLearningRate(h.lr)), { ams: 0, lr: 0.1 });
    const s = stepOnce(tx, tx.init(makeParams()), 0).state;
    let error: unknown;
    try {
      stepOnce(tx, setHyperparams(s, { ams: 1 }), 1);
    } catch (e) {
      error = e;
    }
    expect((error as EmosensError).code).toBe('INVALID_STATE');
    expect((error as EmosensError).message).toMatch(/injectHyperparams: the inner state's layout changed with the hyperparameters \(ams = 1, lr = 0.1\): '0' has keys count, mu, nu, nuMax, had count, mu, nu/);
  });

  it('wraps a block without a fused form: runs composed, and explainFusion names that block', () => {
    // a block written with tf ops only (no fused form): u -> 2u
    const double: GradientTransformation<Record<string, never>> = {
      name: 'double',
      init: () => ({}),
      update: (updates, state) => ({ updates: Object.fromEntries(Object.entries(updates).map(([k, u]) => [k, tf.mul(u, 2)])), state }),
    };
    const tx = injectHyperparams((h) => chain(double, scaleByLearningRate(h.lr)), { lr: 0.5 });
    expect(explainFusion(tx, 'cpu')).toMatchObject({ fused: false });
    expect(JSON.stringify(explainFusion(tx, 'cpu'))).toMatch(/double/);
    let s = tx.init(makeParams());
    const a = stepOnce(tx, s, 0);
    // -0.5 * 2 * g = -g
    expect(a.updates.b).toEqual([3]);
    s = setHyperparams(a.state, { lr: 0.25 });
    expect(stepOnce(tx, s, 1).updates.b).toEqual([-0.5]);
  });

  it('leaks nothing, also when a changed value rebuilds the inner block', () => {
    const tx = injectHyperparams(adamWith, { lr: 0.1, b1: 0.9 });
    const opt = statefulOptimizer(tx, makeParams(), { fused: false });
    opt.step(gradAt(0));
    const before = tf.memory().numTensors;
    for (let t = 1; t < 5; t++) {
      opt.setState(setHyperparams(opt.state, { lr: 0.1 / t }));
      const g = gradAt(t);
      opt.step(g);
      tf.dispose(Object.values(g));
    }
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
  });
});

describe('injectHyperparams fused on the typed-array target', () => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerCpuKernels({ precision: 'exact' });
  });
  afterAll(() => unregister());

  it('delegates to the inner fused form: equal to composed bit for bit, values changed between steps', () => {
    const make = () => injectHyperparams(adamWith, { lr: (t: number) => 0.05 * 0.9 ** t, b1: 0.9 });
    expect(explainFusion(make(), 'cpu')).toEqual({ fused: true, target: 'typed-array' });
    const fused = statefulOptimizer(make(), makeParams());
    const composed = statefulOptimizer(make(), makeParams(), { fused: false });
    const before = tf.memory().numTensors;
    for (let t = 0; t < 8; t++) {
      if (t === 4) {
        fused.setState(setHyperparams(fused.state, { b1: 0.5 }));
        composed.setState(setHyperparams(composed.state, { b1: 0.5 }));
      }
      const g = gradAt(t);
      fused.step(g);
      composed.step(g);
      tf.dispose(Object.values(g));
    }
    expect(fused.path).toBe('fused');
    expect(composed.path).toBe('composed');
    expect(v(fused.params.w)).toEqual(v(composed.params.w));
    expect(v(fused.params.b)).toEqual(v(composed.params.b));
    expect(getHyperparams(fused.state)).toEqual({ lr: 0.05 * 0.9 ** 7, b1: 0.5 });
    expect(tf.memory().numTensors).toBe(before);
    fused.dispose();
    composed.dispose();
  });
});
