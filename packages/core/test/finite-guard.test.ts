import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { allFinite, selectWhere } from '../src/index.js';

const bits = (t: tf.Tensor) => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer));

afterEach(() => vi.restoreAllMocks());

describe('allFinite', () => {
  it('is a bool scalar: false for a NaN/Inf gradient or loss (a number loss as float32), true otherwise', () => {
    const g = { a: tf.tensor([1, -2, 0]), b: tf.tensor([[3]]) };
    const nan = { ...g, b: tf.tensor([[Number.NaN]]) };
    const inf = { ...g, a: tf.tensor([1, Number.NEGATIVE_INFINITY, 0]) };
    const cases: [Parameters<typeof allFinite>[0], Record<string, tf.Tensor>, boolean][] = [
      [undefined, g, true],
      [1.5, g, true],
      [1e39, g, false], // overflows float32
      [Number.NaN, g, false],
      [tf.scalar(Number.POSITIVE_INFINITY), g, false],
      [tf.scalar(2), nan, false],
      [tf.scalar(2), inf, false],
      [tf.scalar(2), g, true],
    ];
    for (const [loss, grads, expected] of cases) {
      const ok = allFinite(loss, grads);
      expect([ok.dtype, ok.shape, ok.dataSync()[0]]).toEqual(['bool', [], expected ? 1 : 0]);
      tf.dispose([ok, ...(typeof loss === 'object' ? [loss] : [])]);
    }
    tf.dispose([...Object.values(g), nan.b, inf.a]);
  });
});

describe('selectWhere', () => {
  it('selects bit for bit (a -0 kept), shares one broadcast condition per shape, and reads nothing back', () => {
    const p = tf.tensor([-0, 1, 2, 3], [2, 2]);
    const next = tf.tensor([5, 6, 7, 8], [2, 2]);
    const q = tf.tensor([9, 10, 11, 12], [2, 2]);
    for (const applied of [false, true]) {
      const ok = tf.scalar(applied, 'bool');
      const backend = tf.backend();
      const reads = [vi.spyOn(backend, 'readSync'), vi.spyOn(backend, 'read')];
      const before = tf.memory().numTensors;
      let keys: string[] = [];
      const [a, b, c] = tf.tidy(() => {
        const conditions = new Map<string, tf.Tensor>();
        const out = [
          selectWhere(ok, next, p, conditions),
          selectWhere(ok, tf.scalar(1), tf.scalar(2), conditions),
          selectWhere(ok, q, next, conditions),
        ];
        keys = [...conditions.keys()];
        return out;
      }) as [tf.Tensor, tf.Tensor, tf.Tensor];
      for (const spy of reads) expect(spy).not.toHaveBeenCalled();
      vi.restoreAllMocks();
      expect(keys).toEqual(['2,2']); // one broadcast for both [2, 2] selects, none for the scalar
      expect(bits(a)).toEqual(bits(applied ? next : p));
      expect(b.dataSync()[0]).toBe(applied ? 1 : 2);
      expect(bits(c)).toEqual(bits(applied ? q : next));
      expect(tf.memory().numTensors).toBe(before + 3); // inside tf.tidy, the conditions are ordinary intermediates
      tf.dispose([a, b, c, ok]);
    }
    tf.dispose([p, next, q]);
  });
});
