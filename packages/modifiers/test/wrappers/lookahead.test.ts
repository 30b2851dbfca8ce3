import * as tf from '@tensorflow/tfjs-core';
import { chain, disposeReplaced, explainFusion, runTransform, type GradientTransformation, type StateValue } from '@emosens/core';
import { scaleByAdam } from '@emosens/moments';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFusedTwinsEqual, v } from './twins.js';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle.
import { registerCpuKernels } from '../../../backend-cpu/src/index.js';
import { lookahead, scaleByLearningRate } from '../../src/index.js';
import { compare, loadRecording, runRecording } from './golden.js';


describe('lookahead: hand-derived', () => {
  it('takes inner steps, and on every k-th step moves slow toward fast and sets p to slow', () => {
    // inner: u = -g (lr 1); k = 2, alpha = 0.5; p0 = 1, g = 1 every step
    const tx = lookahead(scaleByLearningRate(1), { syncPeriod: 2, alpha: 0.5 });
    let p = tf.tensor1d([1]);
    let state = tx.init({ w: p });
    expect(v(state.slow.w)).toEqual([1]);
    const params: number[] = [];
    for (let t = 0; t < 4; t++) {
      const r = runTransform(tx, { w: p }, state, { w: tf.tensor1d([1]) });
      p = tf.add(p, r.updates.w!);
      params.push(v(p)[0]!);
      disposeReplaced(state, r.state);
      state = r.state;
    }
    // step 1: fast 0. step 2: fast -1, slow = 1 + 0.5 (-1 - 1) = 0, p = 0.
    // step 3: fast -1. step 4: fast -2, slow = 0 + 0.5 (-2 - 0) = -1, p = -1.
    expect(params).toEqual([0, 0, -1, -1]);
    expect(v(state.slow.w)).toEqual([-1]);
    expect(state.fastStep).toBe(0);
  });

  it('alpha 1 is the inner block alone; alpha 0 returns to the initial weights at each sync', () => {
    const run = (alpha: number) => {
      const tx = lookahead(scaleByLearningRate(1), { syncPeriod: 1, alpha });
      const p = tf.tensor1d([3]);
      const r = runTransform(tx, { w: p }, tx.init({ w: p }), { w: tf.tensor1d([2]) });
      return v(tf.add(p, r.updates.w!));
    };
    expect(run(1)).toEqual([1]);
    expect(run(0)).toEqual([3]);
  });

  it('refuses a syncPeriod below 1 or an alpha outside [0, 1], naming them', () => {
    const inner = scaleByLearningRate(0.1);
    expect(() => lookahead(inner, { syncPeriod: 0 })).toThrow(/lookahead: option 'syncPeriod' must be an integer >= 1/);
    expect(() => lookahead(inner, { syncPeriod: 2.5 })).toThrow(/syncPeriod/);
    expect(() => lookahead(inner, { alpha: 1.5 })).toThrow(/lookahead: option 'alpha'/);
    expect(() => lookahead(inner, { alpha: -0.1 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it('leaks nothing over a sync', () => {
    const tx = lookahead(chain(scaleByAdam(), scaleByLearningRate(0.1)), { syncPeriod: 2 });
    const params = { w: tf.ones([3]) };
    let state = tx.init(params);
    const before = tf.memory().numTensors;
    for (let t = 0; t < 4; t++) {
      const grads = { w: tf.tensor1d([1, -2, 3]) };
      const r = runTransform(tx, params, state, grads);
      disposeReplaced(state, r.state);
      tf.dispose([...Object.values(r.updates), ...Object.values(grads)]);
      state = r.state;
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('lookahead: torch recording (adam-lookahead.json)', () => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerCpuKernels({ precision: 'exact' });
  });
  afterAll(() => unregister());

  for (const fused of [false, true]) {
    it(`${fused ? 'fused (cpu target)' : 'composed'}: every step and the final slow weights within the tolerance`, (ctx) => {
      const loaded = loadRecording('adam-lookahead.json');
      if ('reason' in loaded) return ctx.skip(loaded.reason);
      const { rec } = loaded;
      expect(rec.optimizer).toBe('Adam');
      const lr = (rec.hyper.lr as number | undefined) ?? 1e-3;
      const inner = chain({ moments: scaleByAdam({ b1: 0.9, b2: 0.999, eps: 1e-8 }), lr: scaleByLearningRate(lr) });
      const tx = lookahead(inner, { syncPeriod: rec.lookahead!.sync_period, alpha: rec.lookahead!.alpha }) as GradientTransformation<StateValue>;
      if (fused) expect(explainFusion(tx, 'cpu')).toEqual({ fused: true, target: 'typed-array' });
      const { failures, opt } = runRecording(rec, tx, fused);
      expect(opt.path).toBe(fused ? 'fused' : 'composed');
      const state = opt.state as unknown as { slow: Record<string, tf.Tensor>; inner: { moments: { mu: Record<string, tf.Tensor>; nu: Record<string, tf.Tensor> } } };
      for (const [k, s] of Object.entries(rec.final_state)) {
        compare(`final slow ${k}`, state.slow[k]!.dataSync(), s.slow!, rec, failures);
        compare(`final exp_avg ${k}`, state.inner.moments.mu[k]!.dataSync(), s.exp_avg!, rec, failures);
        compare(`final exp_avg_sq ${k}`, state.inner.moments.nu[k]!.dataSync(), s.exp_avg_sq!, rec, failures);
      }
      opt.dispose();
      expect(failures).toEqual([]);
    });
  }

  it('fused == composed bit for bit on the cpu target, and nothing leaks per step', () => {
    const make = () => lookahead(chain(scaleByAdam(), scaleByLearningRate((t) => 0.05 / (t + 1))), { syncPeriod: 3, alpha: 0.3 });
    expectFusedTwinsEqual(make, 10);
  });
});
