import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { EmosensError, chain } from '@emosens/core';
import { TransformOptimizer, type NonFinitePolicy } from '../src/index.js';
import { bits, countReads, momentumSgd, recordLoss, type MomentumState } from './helpers.js';

type RecordState = [{ last: tf.Scalar }, MomentumState];

/** An optimizer that has taken one good step on w, so it has state to protect. */
function primed(onNonFinite?: NonFinitePolicy) {
  const w = tf.variable(tf.tensor1d([1, 2, 3]));
  const opt = new TransformOptimizer(chain(recordLoss(), momentumSgd()), onNonFinite ? { onNonFinite } : {});
  const g = tf.tensor1d([1, 1, 1]);
  opt.setLoss(1);
  opt.applyGradients({ [w.name]: g });
  g.dispose();
  const state = () => opt.state as unknown as RecordState;
  const snapshot = () => ({ w: bits(w), m: bits(state()[1].m[w.name]!), last: bits(state()[0].last) });
  const release = () => {
    opt.dispose();
    w.dispose();
  };
  return { w, opt, state, snapshot, release };
}

/** One step with the given gradient values and loss. */
function stepWith(opt: TransformOptimizer, w: tf.Variable, grad: number[], loss: number | tf.Scalar): void {
  const g = tf.tensor1d(grad);
  try {
    opt.setLoss(loss);
    opt.applyGradients({ [w.name]: g });
  } finally {
    g.dispose();
  }
}

describe("onNonFinite: 'skip' (the default)", () => {
  it('skips a step with a NaN gradient: weights and tensor state unchanged, counted, no readback', async () => {
    const { w, opt, state, snapshot, release } = primed();
    const before = snapshot();
    const loss = tf.scalar(2);
    const reads = await countReads(() => stepWith(opt, w, [0, Number.NaN, 0], loss));
    expect(reads).toBe(0);
    expect(snapshot()).toEqual(before);
    expect(opt.readSkippedSteps()).toBe(1);
    // The documented limit of this mode: plain-number state (the step count) advanced.
    expect(state()[1].count).toBe(2);
    // A good step afterwards applies normally.
    stepWith(opt, w, [1, 1, 1], loss);
    expect(bits(w)).not.toEqual(before.w);
    expect(opt.readSkippedSteps()).toBe(1);
    loss.dispose();
    release();
  });

  it('skips a step with an infinite gradient or a non-finite loss tensor', () => {
    const { w, opt, snapshot, release } = primed();
    const before = snapshot();
    const inf = tf.scalar(Number.POSITIVE_INFINITY);
    const nan = tf.scalar(Number.NaN);
    const fine = tf.scalar(1);
    stepWith(opt, w, [0, Number.NEGATIVE_INFINITY, 0], fine);
    stepWith(opt, w, [1, 1, 1], inf);
    stepWith(opt, w, [1, 1, 1], nan);
    expect(snapshot()).toEqual(before);
    expect(opt.readSkippedSteps()).toBe(3);
    tf.dispose([inf, nan, fine]);
    release();
  });

  it('skips a step with a non-finite number loss without running the chain', () => {
    const { w, opt, state, snapshot, release } = primed();
    const before = snapshot();
    stepWith(opt, w, [1, 1, 1], Number.NaN);
    expect(snapshot()).toEqual(before);
    expect(state()[1].count).toBe(1); // known in JavaScript: nothing ran
    expect(opt.readSkippedSteps()).toBe(1);
    release();
  });

  it.each(['skip', 'skipExact'] as const)('leaks no tensors over good and skipped steps (%s)', (mode) => {
    const { w, opt, release } = primed(mode);
    const loss = tf.scalar(1);
    stepWith(opt, w, [1, 1, 1], loss);
    const count = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) {
      stepWith(opt, w, [1, Number.NaN, 1], loss);
      stepWith(opt, w, [1, 1, 1], Number.NaN);
      stepWith(opt, w, [1, 1, 1], loss);
    }
    expect(tf.memory().numTensors).toBe(count);
    expect(opt.readSkippedSteps()).toBe(8);
    expect(opt.skippedSteps.dtype).toBe('int32');
    loss.dispose();
    release();
  });
});

describe("onNonFinite: 'skipExact'", () => {
  it('skips without running the chain: plain-number state unchanged too, one boolean read', async () => {
    const { w, opt, state, snapshot, release } = primed('skipExact');
    const before = snapshot();
    const loss = tf.scalar(2);
    const reads = await countReads(() => stepWith(opt, w, [Number.NaN, 0, 0], loss));
    expect(reads).toBe(1);
    expect(snapshot()).toEqual(before);
    expect(state()[1].count).toBe(1);
    expect(opt.readSkippedSteps()).toBe(1);
    const goodReads = await countReads(() => stepWith(opt, w, [1, 1, 1], loss));
    expect(goodReads).toBe(1);
    expect(state()[1].count).toBe(2);
    loss.dispose();
    release();
  });
});

describe("onNonFinite: 'throw'", () => {
  it('throws NON_FINITE naming the culprit and changes nothing', () => {
    const { w, opt, state, snapshot, release } = primed('throw');
    const before = snapshot();
    const loss = tf.scalar(2);
    let error: unknown;
    try {
      stepWith(opt, w, [0, 0, Number.NaN], loss);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EmosensError);
    expect((error as EmosensError).code).toBe('NON_FINITE');
    expect((error as EmosensError).message).toContain(`the gradient of '${w.name}'`);
    expect(snapshot()).toEqual(before);
    expect(state()[1].count).toBe(1);
    expect(opt.iterations).toBe(1);
    expect(opt.readSkippedSteps()).toBe(0);

    const bad = tf.scalar(Number.NaN);
    expect(() => stepWith(opt, w, [1, 1, 1], bad)).toThrow(/the loss/);
    expect(() => stepWith(opt, w, [1, 1, 1], Number.POSITIVE_INFINITY)).toThrow(/the loss is Infinity/);
    expect(snapshot()).toEqual(before);
    tf.dispose([loss, bad]);
    release();
  });

  it('applies finite steps normally', () => {
    const { w, opt, state, release } = primed('throw');
    stepWith(opt, w, [1, 1, 1], 3);
    expect(state()[1].count).toBe(2);
    expect(state()[0].last.dataSync()[0]).toBe(3);
    release();
    expect(w.isDisposed).toBe(true);
  });
});
