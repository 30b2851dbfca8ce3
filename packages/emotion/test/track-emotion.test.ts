import * as tf from '@tensorflow/tfjs-core';
import { createStepContext, disposeState, EmosensError, statefulOptimizer, chain, stateless } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { fixedEmotion, trackEmotion } from '../src/index.js';

const params = { w: tf.tensor([1, 2]) };
const grads = { w: tf.tensor([0.5, -0.5]) };

function run(losses: Array<number | tf.Scalar>) {
  const t = trackEmotion();
  let state = t.init(params);
  const scalars: number[] = [];
  const calm: boolean[] = [];
  for (const loss of losses) {
    const ctx = createStepContext(loss);
    const r = t.update(grads, state, params, ctx);
    expect(r.updates).toBe(grads); // listens only
    state = r.state;
    scalars.push(ctx.read('emotion', 'test').dataSync()[0]!);
    calm.push(ctx.read('calm', 'test').dataSync()[0] === 1);
  }
  return { state, scalars, calm };
}

describe('trackEmotion', () => {
  it('starts both averages at the first loss, so the first scalar is 0', () => {
    const { state, scalars } = run([1.7]);
    expect(state.short.dataSync()[0]).toBeCloseTo(1.7, 6);
    expect(state.long.dataSync()[0]).toBeCloseTo(1.7, 6);
    expect(scalars[0]).toBe(0);
  });

  it('second step by hand', () => {
    // loss 1 then 2:
    //   short = 0.3 * 2 + 0.7 * 1 = 1.3
    //   long  = 0.01 * 2 + 0.99 * 1 = 1.01
    //   s     = tanh(5 * (1.3 - 1.01)) = tanh(1.45) = 0.895693...
    const { state, scalars } = run([1, 2]);
    expect(state.short.dataSync()[0]).toBeCloseTo(1.3, 6);
    expect(state.long.dataSync()[0]).toBeCloseTo(1.01, 6);
    expect(scalars[1]).toBeCloseTo(Math.tanh(1.45), 6);
    expect(state.count.dataSync()[0]).toBe(2);
  });

  it('a tensor loss gives the same values as a number loss', () => {
    const losses = [3, 2.5, 2.7, 1.2];
    const a = run(losses).scalars;
    const b = run(losses.map((l) => tf.scalar(l))).scalars;
    expect(b).toEqual(a);
  });

  it('calm turns on once 32 steps of flat loss fill the window, not before', () => {
    // constant loss: every scalar is 0, so mean |s| = 0 < 0.05 and var = 0 < 0.005
    const { calm } = run(Array.from({ length: 40 }, () => 0.5));
    expect(calm.slice(0, 31).every((c) => !c)).toBe(true);
    expect(calm.slice(31).every((c) => c)).toBe(true);
  });

  it('calm stays off while the loss keeps moving', () => {
    const { calm, scalars } = run(Array.from({ length: 40 }, (_, i) => 2 * Math.exp(-i / 5)));
    expect(calm.some((c) => c)).toBe(false);
    expect(Math.abs(scalars[10]!)).toBeGreaterThan(0.05);
  });

  it('calm: mean and variance thresholds over the window (population variance)', () => {
    // A full window of [0.04, -0.04, ...]; a loss equal to both averages appends a scalar of 0.
    // The window is then 31 of those and a 0: mean |s| = 0.03875 < 0.05, variance ~0.0015 < 0.005.
    const calmAfter = (history: number[]) => {
      const t = trackEmotion();
      const init = t.init(params);
      const state = { ...init, count: tf.scalar(40), short: tf.scalar(1), long: tf.scalar(1), history: tf.tensor1d(history) };
      const context = createStepContext(1);
      const r = t.update(grads, state, params, context);
      const calm = context.read('calm', 'test').dataSync()[0];
      tf.dispose([init.count, init.short, init.long, init.history, state.count, state.short, state.long, state.history]);
      disposeState(r.state);
      return calm;
    };
    expect(calmAfter(Array.from({ length: 32 }, (_, i) => (i % 2 ? -0.04 : 0.04)))).toBe(1);
    // mean |s| = 31 * 0.06 / 32 = 0.058 -> not calm
    expect(calmAfter(Array.from({ length: 32 }, () => 0.06))).toBe(0);
    // mean |s| small but the variance too large: one 0.45 among zeros gives mean |s| 0.014, variance 0.0061
    expect(calmAfter([0, 0.45, ...Array.from({ length: 30 }, () => 0)])).toBe(0);
  });

  it('needs the loss and says so, naming the block', () => {
    const t = trackEmotion();
    expect(() => t.update(grads, t.init(params), params, createStepContext())).toThrowError(EmosensError);
    expect(() => t.update(grads, t.init(params), params, createStepContext())).toThrowError(/'trackEmotion' needs this step's loss/);
  });

  it('validates its options, naming them', () => {
    expect(() => trackEmotion({ shortRate: 2 })).toThrowError(/'shortRate' must be in \[0, 1\]/);
    expect(() => trackEmotion({ calmWindow: 0 })).toThrowError(/'calmWindow' must be an integer >= 1/);
    expect(() => fixedEmotion(3)).toThrowError(/'value' must be in \[-1, 1\]/);
  });

  it('leaks nothing over 100 steps, with tensor losses, and reads nothing back', async () => {
    const opt = statefulOptimizer(chain(trackEmotion(), stateless('noop', (u) => tf.mul(u, 0))), { w: tf.tensor([1, 2]) });
    const backend = tf.backend();
    let reads = 0;
    const originalReadSync = backend.readSync.bind(backend);
    const originalRead = backend.read.bind(backend);
    backend.readSync = (id) => { reads += 1; return originalReadSync(id); };
    backend.read = (id) => { reads += 1; return originalRead(id); };
    try {
      const stepOnce = (i: number) => {
        const loss = tf.scalar(1 + Math.sin(i));
        opt.step({ w: tf.ones([2]) }, { loss });
        loss.dispose();
      };
      stepOnce(0);
      const after = tf.memory().numTensors;
      for (let i = 1; i < 100; i++) stepOnce(i);
      expect(reads).toBe(0);
      // the gradients made by each step are the caller's: 99 of them remain
      expect(tf.memory().numTensors).toBe(after + 99);
    } finally {
      backend.readSync = originalReadSync;
      backend.read = originalRead;
    }
    expect(opt.readSignal('emotion')).toBeTypeOf('number');
    expect(opt.readSignal('calm')).toBe(0);
    opt.dispose();
  });
});
