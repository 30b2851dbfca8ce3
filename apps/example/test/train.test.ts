import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeIris, loadIris, type IrisData } from '../src/iris.js';
import { makeOptimizer, trainSoftmaxRegression } from '../src/train.js';

describe('iris data', () => {
  it('loads 150 standardized flowers with one-hot labels for 3 species', () => {
    const data = loadIris();
    try {
      expect(data.features.shape).toEqual([150, 4]);
      expect(data.labels.shape).toEqual([150, 3]);
      expect(data.classNames).toEqual(['setosa', 'versicolor', 'virginica']);
      // Standardized columns: mean 0, variance 1 (to float32 precision).
      const { mean, variance } = tf.moments(data.features, 0);
      for (const m of mean.dataSync()) expect(Math.abs(m)).toBeLessThan(1e-5);
      for (const v of variance.dataSync()) expect(v).toBeCloseTo(1, 4);
      // The real data set has 50 flowers of each species.
      expect(Array.from(tf.sum(data.labels, 0).dataSync())).toEqual([50, 50, 50]);
      tf.dispose([mean, variance]);
    } finally {
      disposeIris(data);
    }
  });
});

describe('softmax regression with chain(momentum, learning rate)', () => {
  let data: IrisData;
  beforeAll(() => {
    data = loadIris();
  });
  afterAll(() => disposeIris(data));

  it('drives the loss down from ln 3 and classifies most flowers after 60 steps', () => {
    const before = tf.memory().numTensors;
    const result = trainSoftmaxRegression(data, makeOptimizer(), { steps: 60 });
    expect(result.losses).toHaveLength(60);
    // Zero weights predict 1/3 for every class: the first loss is ln 3.
    expect(result.losses[0]).toBeCloseTo(Math.log(3), 4);
    const last = result.losses[result.losses.length - 1]!;
    expect(last).toBeLessThan(0.3 * result.losses[0]!);
    expect(result.accuracy).toBeGreaterThan(0.9);
    // Nothing leaks: the tensor count is the same after every step, and back to the
    // start once the optimizer is disposed.
    expect(new Set(result.tensorCounts).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reports each step to onStep with its loss', () => {
    const seen: Array<[number, number]> = [];
    const result = trainSoftmaxRegression(data, makeOptimizer(), {
      steps: 5,
      onStep: (step, loss) => seen.push([step, loss]),
    });
    expect(seen.map(([step]) => step)).toEqual([1, 2, 3, 4, 5]);
    expect(seen.map(([, loss]) => loss)).toEqual(result.losses);
  });

  it('refuses an invalid option, naming it', () => {
    expect(() => makeOptimizer({ beta: 1 })).toThrow(/scaleByMomentum: option 'beta' must be in \[0, 1\)/);
    expect(() => makeOptimizer({ lr: -1 })).toThrow(/scaleByLearningRate: option 'lr'/);
  });
});
