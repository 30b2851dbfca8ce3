import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { EmosensError, chain, disposeState, flattenState, isTensor } from '@emosens/core';
import { TransformOptimizer, adam, adamw, emoAiry, emoCats, emoSens, type NonFinitePolicy } from '../src/index.js';
import { bits, countReads, exactBits, leastSquares, momentumSgd, recordLoss, stateBits, type MomentumState } from './helpers.js';

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
    // The documented limit of this mode: a number leaf of a custom chain (this test
    // chain's step count) advances. The ready-made optimizers have none (see below).
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

  it('keeps a parameter entry of -0 exactly (the new value is selected, not 0 added)', () => {
    const w = tf.variable(tf.tensor1d([-0, 1, 2]));
    const opt = new TransformOptimizer(momentumSgd());
    const before = exactBits(w);
    stepWith(opt, w, [Number.NaN, 1, 1], 1);
    expect(opt.readSkippedSteps()).toBe(1);
    expect(exactBits(w)).toEqual(before); // -0 + 0 would be +0
    opt.dispose();
    w.dispose();
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


const READY = {
  emoSens: () => emoSens({ lr: 1e-2 }),
  'emoSens (shadow)': () => emoSens({ lr: 1e-2, useShadow: true }),
  emoAiry: () => emoAiry({ lr: 1e-2 }),
  'emoAiry (shadow)': () => emoAiry({ lr: 1e-2, useShadow: true }),
  emoCats: () => emoCats({ lr: 1e-2 }),
  'emoCats (shadow)': () => emoCats({ lr: 1e-2, useShadow: true }),
  adam: () => adam({ lr: 1e-2, weightDecay: 0.1 }),
  adamw: () => adamw({ lr: 1e-2 }),
} as const;

describe.each(Object.entries(READY))("onNonFinite: 'skip' (the default) is exact for %s", (_name, make) => {
  /**
   * Two runs of the same problem on different variables: `a` meets the bad steps, `b`
   * never does. Their parameters, states and signals compare by the variables' roles.
   */
  function twoRuns() {
    const a = leastSquares();
    const b = leastSquares();
    const optA = make();
    const optB = make();
    const view = (p: typeof a, opt: TransformOptimizer) => {
      const rename = { [p.w.name]: 'w', [p.b.name]: 'b' };
      return {
        w: exactBits(p.w),
        b: exactBits(p.b),
        state: stateBits(opt.state, rename),
        signals: stateBits(opt.signals),
      };
    };
    const goodStep = () => {
      optA.minimize(a.loss);
      optB.minimize(b.loss);
    };
    const release = () => {
      optA.dispose();
      optB.dispose();
      a.release();
      b.release();
    };
    return { a, optA, optB, goodStep, viewA: () => view(a, optA), viewB: () => view(b, optB), release };
  }

  /** A step of `opt` on `a` with a NaN in the gradient of `w` and a finite loss. */
  function nanGradientStep(opt: TransformOptimizer, a: ReturnType<typeof leastSquares>): void {
    const { value, grads } = tf.variableGrads(a.loss, [a.w, a.b]);
    const nan = tf.tidy(() => tf.add(grads[a.w.name]!, tf.tensor2d([0, Number.NaN, 0, 0, 0, 0], [3, 2])));
    try {
      opt.setLoss(value);
      opt.applyGradients({ [a.w.name]: nan, [a.b.name]: grads[a.b.name]! });
    } finally {
      tf.dispose([value, nan, ...Object.values(grads)]);
    }
  }

  it('leaves the parameters and every state leaf unchanged on a NaN gradient and an Inf loss, reading nothing', async () => {
    const { a, optA, optB, goodStep, viewA, viewB, release } = twoRuns();
    expect(optA.onNonFinite).toBe('skip');
    for (let i = 0; i < 3; i++) goodStep();
    // The whole state is tensors, the step counts included: the premise of an exact skip.
    const leaves = flattenState(optA.state);
    expect(leaves.filter((l) => !isTensor(l.value)).map((l) => l.path)).toEqual([]);
    expect(leaves.filter((l) => /(^|\/)count$/.test(l.path)).length).toBeGreaterThan(0);
    const before = viewA();

    const tensors = tf.memory().numTensors;
    expect(await countReads(() => nanGradientStep(optA, a))).toBe(0);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(viewA()).toEqual(before);
    expect(optA.readSkippedSteps()).toBe(1);

    expect(await countReads(() => void optA.minimize(a.infiniteLoss))).toBe(0);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(viewA()).toEqual(before);
    expect(optA.readSkippedSteps()).toBe(2);
    expect(optA.iterations).toBe(5); // skipped steps count as iterations

    // The next good steps compute bit for bit what the run that never saw them computes.
    for (let i = 0; i < 3; i++) {
      goodStep();
      expect(viewA()).toEqual(viewB());
    }
    expect(optA.readSkippedSteps()).toBe(2);
    expect(optB.readSkippedSteps()).toBe(0);
    release();
  });

  it('leaves the initial state as it was when the very first step is skipped', async () => {
    const { a, optA, goodStep, viewA, viewB, release } = twoRuns();
    expect(await countReads(() => void optA.minimize(a.infiniteLoss))).toBe(0);
    expect(optA.readSkippedSteps()).toBe(1);
    // the state is the transform's init, counts at 0 (the Emo averages will start at the next loss)
    const template = optA.transform.init({ [a.w.name]: a.w, [a.b.name]: a.b });
    const rename = { [a.w.name]: 'w', [a.b.name]: 'b' };
    const initial = stateBits(template, rename);
    disposeState(template);
    expect(viewA().state).toEqual(initial);
    nanGradientStep(optA, a);
    expect(optA.readSkippedSteps()).toBe(2);
    expect(viewA().state).toEqual(initial);
    for (let i = 0; i < 3; i++) {
      goodStep();
      expect(viewA()).toEqual(viewB());
    }
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
