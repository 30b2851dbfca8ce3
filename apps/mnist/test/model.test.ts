import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { loadMnist, selectExamples } from '../src/data.js';
import { accuracy, createInitialWeights, createMlp, crossEntropy, makeBatch } from '../src/model.js';

describe('createInitialWeights', () => {
  it('is deterministic per seed and bounded like torch nn.Linear', () => {
    const a = createInitialWeights(5);
    const b = createInitialWeights(5);
    const c = createInitialWeights(6);
    expect(a.w1).toEqual(b.w1);
    expect(a.w1).not.toEqual(c.w1);
    expect(a.w1.length).toBe(784 * 128);
    expect(a.w2.length).toBe(128 * 10);
    const bound = 1 / Math.sqrt(784);
    expect(Math.max(...a.w1.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...a.w1.map(Math.abs))).toBeGreaterThan(0.99 * bound);
  });
});

describe('the MLP', () => {
  it('starts near chance (loss about ln 10) from the shared weights, without leaking tensors', async () => {
    const data = selectExamples(loadMnist(), Array.from({ length: 200 }, (_, i) => i * 50));
    const weights = createInitialWeights(1);
    const before = tf.memory().numTensors;
    const a = createMlp(weights, 'test-a');
    const b = createMlp(weights, 'test-b');
    const { x, y } = makeBatch(data, Array.from({ length: 64 }, (_, i) => i));
    const lossA = crossEntropy(a, x, y);
    const lossB = crossEntropy(b, x, y);
    expect(lossA.dataSync()[0]).toBe(lossB.dataSync()[0]);
    expect(lossA.dataSync()[0]).toBeGreaterThan(2.0);
    expect(lossA.dataSync()[0]).toBeLessThan(2.6);
    const acc = await accuracy(a, data, 64);
    expect(acc).toBeGreaterThanOrEqual(0);
    expect(acc).toBeLessThan(0.4);
    for (const t of [lossA, lossB, x, y]) t.dispose();
    a.dispose();
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
