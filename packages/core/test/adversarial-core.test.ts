// Core's part of the adversarial suite (issue 12; the rest is in
// packages/tfjs/test/adversarial.test.ts): zero-size parameters under the skip guard,
// disposed tensors and optimizers, and restored states of the wrong layout, with a block
// of core's own test helpers (no optimizer package needed).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { EmosensError, allFinite, checkStateLayout, findNaNLeaf, isAllFinite, statefulOptimizer } from '../src/index.js';
import { momentum, values } from './helpers.js';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return error instanceof EmosensError ? error.code : `not an EmosensError: ${String(error)}`;
  }
  return undefined;
};

describe('zero-size tensors count as finite', () => {
  it('isAllFinite is true for [0] and [0, 5], and allFinite with them is true', () => {
    const empty = [tf.zeros([0]), tf.zeros([0, 5])];
    for (const t of empty) expect(isAllFinite(t).dataSync()[0]).toBe(1);
    expect(allFinite(1, { a: empty[0]!, b: empty[1]!, c: tf.ones([2]) }).dataSync()[0]).toBe(1);
    expect(allFinite(1, { a: empty[0]!, c: tf.tensor([1, Number.NaN]) }).dataSync()[0]).toBe(0);
  });

  it('a step with a zero-size parameter beside a normal one is applied under skipNonFinite (composed)', () => {
    const opt = statefulOptimizer(momentum(0.5), { w: tf.ones([2]), e: tf.zeros([0, 5]) }, { skipNonFinite: true, fused: false });
    opt.step({ w: tf.tensor([1, 1]), e: tf.zeros([0, 5]) });
    expect(opt.skippedSteps!.dataSync()[0]).toBe(0);
    expect(values(opt.params.w)).not.toEqual([1, 1]);
    opt.dispose();
  });
});

describe('disposed tensors and optimizers: DISPOSED, nothing changed', () => {
  it('a disposed gradient, a disposed parameter, a step after dispose()', () => {
    const w = tf.variable(tf.ones([2]));
    const opt = statefulOptimizer(momentum(0.5), { w });
    const g = tf.ones([2]);
    g.dispose();
    expect(codeOf(() => opt.step({ w: g }))).toBe('DISPOSED');
    expect(values(w)).toEqual([1, 1]);
    w.dispose();
    expect(codeOf(() => opt.step({ w: tf.ones([2]) }))).toBe('DISPOSED');
    opt.dispose();
    expect(codeOf(() => opt.step({ w: tf.ones([2]) }))).toBe('DISPOSED');
  });
});

describe('restored states', () => {
  it('checkStateLayout names a missing, extra or misshapen leaf (INVALID_STATE)', () => {
    const template = { m: { w: tf.zeros([3]) }, count: 0 };
    expect(codeOf(() => checkStateLayout(template, { m: { w: tf.ones([3]) }, count: 2 }, 'test'))).toBeUndefined();
    expect(() => checkStateLayout(template, { m: {}, count: 2 }, 'test')).toThrow(/no value for leaf 'm\/w'/);
    expect(() => checkStateLayout(template, { m: { w: tf.ones([3]), v: tf.ones([3]) }, count: 2 }, 'test')).toThrow(/does not have: m\/v/);
    expect(() => checkStateLayout(template, { m: { w: tf.ones([4]) }, count: 2 }, 'test')).toThrow(/'m\/w' must be a float32 tensor of shape \[3\]/);
    expect(() => checkStateLayout(template, { m: { w: tf.ones([3]) }, count: tf.scalar(2) }, 'test')).toThrow(/'count' must be a number/);
  });

  it('findNaNLeaf finds NaN (not Infinity) in tensor and number leaves', async () => {
    expect(await findNaNLeaf({ a: tf.tensor([1, Infinity]), b: -Infinity })).toBeUndefined();
    expect(await findNaNLeaf({ a: tf.tensor([1, 2]), b: { c: tf.tensor([Number.NaN]) } })).toBe('b/c');
    expect(await findNaNLeaf({ a: tf.tensor([1, 2]), n: Number.NaN })).toBe('n');
  });

  it('StatefulOptimizer.setState refuses another layout and keeps its own state', () => {
    const opt = statefulOptimizer(momentum(0.5), { w: tf.ones([2]) });
    const own = opt.state;
    expect(codeOf(() => opt.setState({ v: tf.zeros([2]) }))).toBe('INVALID_STATE');
    expect(opt.state).toBe(own);
    opt.dispose();
  });
});
