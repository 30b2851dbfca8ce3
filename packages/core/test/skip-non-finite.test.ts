import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import {
  applyStep,
  chain,
  disposeReplaced,
  disposeState,
  flattenState,
  isTensor,
  statefulOptimizer,
  type ApplyStepResult,
  type GradientTransformation,
  type Loss,
  type Signals,
  type StateValue,
} from '../src/index.js';
import { momentum, multiplyBy } from './helpers.js';

declare module '../src/index.js' {
  interface Signals {
    /** The smoothed loss (a state leaf too). */
    testLevel: tf.Scalar;
    /** A value published each step that no state holds. */
    testGrad: tf.Scalar;
  }
}

/** A block with tensor state that needs the loss: a smoothed loss, published with the sum of the first gradient. */
function smoothLoss(): GradientTransformation<{ level: tf.Scalar; seen: tf.Scalar }> {
  return {
    name: 'smoothLoss',
    init: () => ({ level: tf.scalar(0), seen: tf.scalar(0) }),
    update(updates, state, _params, context) {
      const loss = context.requireLoss('smoothLoss');
      const level = tf.add(tf.mul(state.level, 0.5), tf.mul(loss, 0.5)) as tf.Scalar;
      context.publish('testLevel', level, 'smoothLoss');
      context.publish('testGrad', tf.sum(Object.values(updates)[0]!), 'smoothLoss');
      return { updates, state: { level, seen: tf.add(state.seen, 1) as tf.Scalar } };
    },
  };
}

/** smoothLoss, momentum with tensor state, then a scale whose state is a JS number count. */
function testChain(): GradientTransformation<StateValue> {
  return chain(smoothLoss(), momentum(0.5), multiplyBy(-0.1)) as unknown as GradientTransformation<StateValue>;
}

/** Each tensor leaf of a tree as dtype, shape and exact bits; other leaves as they are. */
function exact(tree: unknown): unknown[] {
  return flattenState(tree).map(({ path, value }) => {
    if (!isTensor(value)) return [path, value];
    const data = value.dataSync();
    const raw = data instanceof Float32Array ? Array.from(new Uint32Array(data.buffer, data.byteOffset, data.length)) : Array.from(data as ArrayLike<number>);
    return [path, value.dtype, value.shape, raw];
  });
}

/** Counts device reads (`read` / `readSync`) during `fn`. */
function countReads<T>(fn: () => T): { value: T; reads: number } {
  const backend = tf.backend();
  const readSync = vi.spyOn(backend, 'readSync');
  const read = vi.spyOn(backend, 'read');
  try {
    const value = fn();
    return { value, reads: readSync.mock.calls.length + read.mock.calls.length };
  } finally {
    readSync.mockRestore();
    read.mockRestore();
  }
}

/** An optimizer driven through applyStep by hand, the way StatefulOptimizer / the tfjs adapter do. */
function driver(transform: GradientTransformation<StateValue>, init: number[], options: { fused?: boolean } = {}) {
  const w = tf.variable(tf.tensor1d(init));
  const params = { w };
  let state = transform.init(params);
  let signals: Partial<Signals> = {};
  let finite: ApplyStepResult<StateValue>['finite'];
  let path: string | undefined;
  const step = (grad: number[], loss: Loss, skipNonFinite = true) => {
    const g = tf.tensor1d(grad);
    const r = applyStep(transform, params, state, { w: g }, { loss, skipNonFinite, previousSignals: signals, ...options });
    disposeReplaced(signals, r.state, r.signals, params, loss);
    if (isTensor(finite)) finite.dispose();
    state = r.state;
    signals = r.signals;
    finite = r.finite;
    path = r.path;
    g.dispose();
  };
  return {
    w,
    step,
    get state() {
      return state;
    },
    get signals() {
      return signals;
    },
    get finite() {
      return isTensor(finite) ? { dtype: finite.dtype, shape: finite.shape, value: finite.dataSync()[0] } : finite;
    },
    get path() {
      return path;
    },
    snapshot: () => ({ w: exact({ w }), state: exact(state), signals: exact(signals) }),
    dispose() {
      disposeState(state);
      disposeReplaced(signals, state);
      if (isTensor(finite)) finite.dispose();
      w.dispose();
    },
  };
}


describe('applyStep with skipNonFinite, composed path (the guard in core)', () => {
  it('a NaN gradient changes no parameter, state tensor or signal bit, reads nothing and leaks nothing', () => {
    const d = driver(testChain(), [-0, 2, 3]);
    d.step([1, -1, 0.5], 2);
    // -0 must survive the skipped step as -0 (p + 0 would give +0)
    const signed = tf.tensor1d([-0, 2, 3]);
    d.w.assign(signed);
    signed.dispose();
    const before = d.snapshot();
    const tensors = tf.memory().numTensors;
    const loss = tf.scalar(3);
    const { reads } = countReads(() => d.step([0, Number.NaN, 0], loss));
    expect(reads).toBe(0);
    loss.dispose();
    expect(d.path).toBe('composed');
    expect(d.finite).toEqual({ dtype: 'bool', shape: [], value: 0 });
    const after = d.snapshot();
    expect(after.w).toEqual(before.w);
    expect(after.signals).toEqual(before.signals);
    // every tensor leaf exact; the number leaf (multiplyBy's count) advanced, as documented
    const numbers = (s: unknown[]) => s.filter((leaf) => (leaf as unknown[]).length === 2);
    expect(after.state.filter((leaf) => (leaf as unknown[]).length === 4)).toEqual(
      before.state.filter((leaf) => (leaf as unknown[]).length === 4),
    );
    expect(numbers(before.state)).toEqual([['2/count', 1]]);
    expect(numbers(after.state)).toEqual([['2/count', 2]]);
    expect(tf.memory().numTensors).toBe(tensors); // the new `finite` flag replaced the last one
    d.dispose();
  });

  it('an infinite loss tensor or a non-finite number loss is skipped too; the next steps match a twin that never saw them', () => {
    const d = driver(testChain(), [1, 2, 3]);
    const twin = driver(testChain(), [1, 2, 3]);
    d.step([1, -1, 0.5], 2);
    twin.step([1, -1, 0.5], 2);
    const inf = tf.scalar(Number.POSITIVE_INFINITY);
    const { reads } = countReads(() => {
      d.step([1, 1, 1], inf);
      d.step([1, 1, 1], Number.NaN);
      d.step([Number.NEGATIVE_INFINITY, 1, 1], 1);
    });
    expect(reads).toBe(0);
    inf.dispose();
    expect(d.finite).toEqual({ dtype: 'bool', shape: [], value: 0 });
    for (const [g, loss] of [[[0.25, -2, 1], 1.5], [[3, 0, -1], 0.75]] as const) {
      d.step([...g], loss);
      twin.step([...g], loss);
      expect(d.finite).toEqual({ dtype: 'bool', shape: [], value: 1 });
      const a = d.snapshot();
      const b = twin.snapshot();
      expect(a.w).toEqual(b.w);
      expect(a.signals).toEqual(b.signals);
      expect(a.state.filter((leaf) => (leaf as unknown[]).length === 4)).toEqual(b.state.filter((leaf) => (leaf as unknown[]).length === 4));
    }
    d.dispose();
    twin.dispose();
  });

  it('a finite step gives bit for bit what the unguarded step gives, and the memory stays flat', () => {
    const guarded = driver(testChain(), [1, -0, 3]);
    const plain = driver(testChain(), [1, -0, 3]);
    guarded.step([0.5, 0.25, -1], 1);
    plain.step([0.5, 0.25, -1], 1, false);
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      guarded.step([0.5, 0.25 * i, -1], 1 + i);
      plain.step([0.5, 0.25 * i, -1], 1 + i, false);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    expect(guarded.finite).toEqual({ dtype: 'bool', shape: [], value: 1 });
    expect(plain.finite).toBeUndefined();
    expect(guarded.snapshot()).toEqual(plain.snapshot());
    guarded.dispose();
    plain.dispose();
  });

  it('an error in the transform leaves everything as before and leaks nothing', () => {
    const d = driver(testChain(), [1, 2, 3]);
    d.step([1, 1, 1], 1);
    const before = d.snapshot();
    const tensors = tf.memory().numTensors;
    const g = tf.tensor1d([1, 1, 1]);
    const { state } = d;
    expect(() => applyStep(testChain(), { w: d.w }, state, { w: g }, { skipNonFinite: true })).toThrowError(/needs this step's loss/);
    g.dispose();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(d.snapshot()).toEqual(before);
    d.dispose();
  });
});

describe('StatefulOptimizer with skipNonFinite', () => {
  it('skips NaN/Inf steps on the device, counts them, and leaks nothing', () => {
    const opt = statefulOptimizer(chain(momentum(0.5), multiplyBy(-0.1)), { w: tf.tensor([1, -2]) }, { skipNonFinite: true });
    const plain = statefulOptimizer(chain(momentum(0.5), multiplyBy(-0.1)), { w: tf.tensor([1, -2]) });
    const good = tf.tensor([0.5, 0.25]);
    const bad = tf.tensor([Number.NaN, 1]);
    opt.step({ w: good }, { loss: 1 });
    plain.step({ w: good }, { loss: 1 });
    const before = tf.memory().numTensors;
    opt.step({ w: bad }, { loss: 1 });
    opt.step({ w: good }, { loss: Number.POSITIVE_INFINITY });
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(opt.params.w!.dataSync())).toEqual(Array.from(plain.params.w!.dataSync()));
    opt.step({ w: good }, { loss: 1 });
    plain.step({ w: good }, { loss: 1 });
    expect(Array.from(opt.params.w!.dataSync())).toEqual(Array.from(plain.params.w!.dataSync()));
    expect(opt.skippedSteps?.dataSync()[0]).toBe(2);
    expect(plain.skippedSteps).toBeUndefined();
    [opt, plain].forEach((o) => o.dispose());
    tf.dispose([good, bad]);
  });
});
