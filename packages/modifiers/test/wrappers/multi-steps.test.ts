import * as tf from '@tensorflow/tfjs-core';
import { chain, disposeReplaced, explainFusion, runTransform, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { scaleByAdam } from '@emosens/moments';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFusedTwinsEqual, v } from './twins.js';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle.
import { registerCpuKernels } from '../../../backend-cpu/src/index.js';
import { addDecayedWeights, multiSteps, scaleByLearningRate } from '../../src/index.js';
import { compare, loadRecording, runRecording } from './golden.js';


/** torch's AdamW as the `adamw` optimizer builds it: chain(scaleByAdam, addDecayedWeights, scaleByLearningRate). */
function adamwAsTorch(hyper: Record<string, unknown>): GradientTransformation<StateValue> {
  const lr = (hyper.lr as number | undefined) ?? 1e-3;
  const wd = (hyper.weight_decay as number | undefined) ?? 0.01;
  const [b1, b2] = (hyper.betas as [number, number] | undefined) ?? [0.9, 0.999];
  const eps = (hyper.eps as number | undefined) ?? 1e-8;
  return chain({ moments: scaleByAdam({ b1, b2, eps }), decay: addDecayedWeights(wd), lr: scaleByLearningRate(lr) }) as GradientTransformation<StateValue>;
}

describe('multiSteps: hand-derived', () => {
  it('emits zeros until the k-th step, then runs the inner block once on the mean', () => {
    // inner: -lr(t) * u with a schedule lr(t) = t + 1, so the count shows how often it ran
    const tx = multiSteps(scaleByLearningRate((t) => t + 1), { everyK: 3 });
    const params = { w: tf.zeros([2]) };
    let state = tx.init(params);
    const grads = [[3, 6], [0, 3], [6, -3], [1, 1], [2, 2], [3, 3]];
    const out: number[][] = [];
    for (const g of grads) {
      const r = runTransform(tx, params, state, { w: tf.tensor1d(g) });
      out.push(v(r.updates.w));
      disposeReplaced(state, r.state);
      state = r.state;
    }
    // cycle 1: mean (3+0+6)/3 = 3, (6+3-3)/3 = 2, lr(0) = 1 -> (-3, -2)
    // cycle 2: mean 2, 2, lr(1) = 2 -> (-4, -4): the schedule moved once per cycle
    expect(out).toEqual([[0, 0], [0, 0], [-3, -2], [0, 0], [0, 0], [-4, -4]]);
    expect(state.miniStep).toBe(0);
    expect(state.inner).toEqual({ count: 2 });
    expect(v(state.acc.w)).toEqual([0, 0]);
  });

  it('everyK 1 is the inner block itself, with no sums kept', () => {
    const tx = multiSteps(scaleByLearningRate(0.5), { everyK: 1 });
    const params = { w: tf.zeros([2]) };
    const state = tx.init(params);
    expect(state.acc).toEqual({});
    const r = runTransform(tx, params, state, { w: tf.tensor1d([2, -4]) });
    expect(v(r.updates.w)).toEqual([-1, 2]);
  });

  it('refuses an everyK that is not an integer >= 1, naming it', () => {
    const inner = scaleByLearningRate(0.1);
    for (const everyK of [0, -1, 1.5, NaN]) {
      expect(() => multiSteps(inner, { everyK })).toThrow(/multiSteps: option 'everyK' must be an integer >= 1/);
    }
    expect(() => multiSteps(inner, {} as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it('leaks nothing: one step keeps only the new sums and updates', () => {
    const tx = multiSteps(chain(scaleByAdam(), scaleByLearningRate(0.1)), { everyK: 2 });
    const params = { w: tf.ones([3]), b: tf.ones([2]) };
    let state = tx.init(params);
    const before = tf.memory().numTensors;
    for (let t = 0; t < 4; t++) {
      const grads = { w: tf.tensor1d([1, -2, 3]), b: tf.tensor1d([0.5, 1]) };
      const r = runTransform(tx, params, state, grads);
      disposeReplaced(state, r.state);
      tf.dispose([...Object.values(r.updates), ...Object.values(grads)]);
      state = r.state;
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('multiSteps: torch gradient accumulation (adamw-accumulate-3.json)', () => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerCpuKernels({ precision: 'exact' });
  });
  afterAll(() => unregister());

  for (const fused of [false, true]) {
    it(`${fused ? 'fused (cpu target)' : 'composed'}: every step and the final moments within the tolerance`, (ctx) => {
      const loaded = loadRecording('adamw-accumulate-3.json');
      if ('reason' in loaded) return ctx.skip(loaded.reason);
      const { rec } = loaded;
      expect(rec.optimizer).toBe('AdamW');
      const tx = multiSteps(adamwAsTorch(rec.hyper), { everyK: rec.accumulate! });
      if (fused) expect(explainFusion(tx as GradientTransformation<StateValue>, 'cpu')).toEqual({ fused: true, target: 'typed-array' });
      const { failures, opt } = runRecording(rec, tx as GradientTransformation<StateValue>, fused);
      expect(opt.path).toBe(fused ? 'fused' : 'composed');
      const moments = (opt.state as unknown as { inner: { moments: { mu: Record<string, tf.Tensor>; nu: Record<string, tf.Tensor> } } }).inner.moments;
      for (const [k, s] of Object.entries(rec.final_state)) {
        compare(`final exp_avg ${k}`, moments.mu[k]!.dataSync(), s.exp_avg!, rec, failures);
        compare(`final exp_avg_sq ${k}`, moments.nu[k]!.dataSync(), s.exp_avg_sq!, rec, failures);
      }
      opt.dispose();
      expect(failures).toEqual([]);
    });
  }

  it("under the step engine's 'skip' policy: the sums keep their values; miniStep advances composed, not on a guarding target", () => {
    const run = (fused: boolean) => {
      const opt = statefulOptimizer(multiSteps(scaleByLearningRate(1), { everyK: 3 }), { w: tf.zeros([2]) }, { fused, skipNonFinite: true });
      for (const g of [[1, 1], [NaN, 1]]) {
        const grads = { w: tf.tensor1d(g) };
        opt.step(grads);
        tf.dispose(Object.values(grads));
      }
      const out = { path: opt.path, miniStep: opt.state.miniStep, acc: v(opt.state.acc.w), skipped: v(opt.skippedSteps) };
      opt.dispose();
      return out;
    };
    // the composed guard selects tensors on the device; host numbers are not guarded
    expect(run(false)).toEqual({ path: 'composed', miniStep: 2, acc: [1, 1], skipped: [1] });
    // the typed-array target checks its inputs first and leaves everything as it was
    expect(run(true)).toEqual({ path: 'fused', miniStep: 1, acc: [1, 1], skipped: [1] });
  });

  it('fused == composed bit for bit on the cpu target, and nothing leaks per step', () => {
    const make = () => multiSteps(chain(scaleByAdam(), addDecayedWeights(0.01), scaleByLearningRate((t) => 0.01 / (t + 1))), { everyK: 3 });
    expectFusedTwinsEqual(make, 10);
  });
});
