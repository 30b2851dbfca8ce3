import * as tf from '@tensorflow/tfjs-core';
import { chain, disposeReplaced, explainFusion, runTransform, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { scaleByAdam } from '@emosens/moments';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle.
import { registerCpuKernels } from '../../../backend-cpu/src/index.js';
import { lookahead, scaleByLearningRate } from '../../src/index.js';
import { compare, loadRecording, runRecording } from './golden.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());

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
    const init = { w: [0.5, -1, 2, 0.25, -0.75, 1.5], b: [0.1, -0.2] };
    const makeParams = () => ({ w: tf.variable(tf.tensor(init.w, [2, 3])), b: tf.variable(tf.tensor(init.b)) });
    const pf = makeParams();
    const pc = makeParams();
    const fusedOpt = statefulOptimizer(make(), pf);
    const composedOpt = statefulOptimizer(make(), pc, { fused: false });
    let before = 0;
    for (let t = 0; t < 10; t++) {
      if (t === 1) before = tf.memory().numTensors;
      const g = { w: tf.tensor(init.w.map((x, i) => Math.sin(x + i + t)), [2, 3]), b: tf.tensor1d(init.b.map((x, i) => Math.cos(x + i * t))) };
      fusedOpt.step(g);
      composedOpt.step(g);
      tf.dispose(Object.values(g));
      expect(fusedOpt.path).toBe('fused');
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(v(pf.w)).toEqual(v(pc.w));
    expect(v(pf.b)).toEqual(v(pc.b));
    expect(v(pf.w)).not.toEqual(init.w.map(Math.fround));
    fusedOpt.dispose();
    composedOpt.dispose();
    tf.dispose([...Object.values(pf), ...Object.values(pc)]);
  });
});
