import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { chain, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { scaleByLearningRate } from '@emosens/modifiers';
import { scaleByAdafactorRms } from '@emosens/moments';
import { adafactor } from '@emosens/optimizers';
import { registerCpuKernels } from '../src/index.js';

// The 'fast' renderer folds a parameter's update into `p * keep + atom * factor` with the
// factors computed once before the element loop. A factor made of row or column values
// (a factored second moment) differs between elements and must stay in the loop.
const chains: Record<string, () => GradientTransformation<StateValue>> = {
  'scaleByAdafactorRms factored, lr': () =>
    chain(scaleByAdafactorRms({ minDimSizeToFactor: 2 }), scaleByLearningRate(0.1)) as unknown as GradientTransformation<StateValue>,
  'adafactor factored (one parameter)': () => adafactor({ minDimSizeToFactor: 2 }),
  'adafactor factored, lr, momentum': () => adafactor({ lr: 0.05, minDimSizeToFactor: 2, momentum: 0.9 }),
};

describe("the 'fast' typed-array target folds updates with row and column factors per element", () => {
  it.each(Object.entries(chains))('%s: fused agrees with composed', (_name, make) => {
    const run = (fused: boolean) => {
      const unregister = fused ? registerCpuKernels() : undefined;
      const w = tf.variable(tf.tensor2d([0.5, -1, 2, 0.25, 1, -0.5, 0.3, 0.7, -2, 1.5, 0.1, -0.2], [4, 3]));
      const opt = statefulOptimizer(make(), { w }, { fused });
      for (let t = 0; t < 4; t++) {
        const g = tf.tensor2d([1, -2, 0.5, 3, -1, 0.25, 2, 0.1, -0.3, 1, 1, -4].map((v) => v * (t + 1)), [4, 3]);
        opt.step({ w: g }, { loss: 1 });
        g.dispose();
      }
      expect(opt.path).toBe(fused ? 'fused' : 'composed');
      const values = Array.from(w.dataSync());
      opt.dispose();
      w.dispose();
      unregister?.();
      return values;
    };
    const composed = run(false);
    run(true).forEach((v, i) => expect(v).toBeCloseTo(composed[i]!, 5));
  });
});
