import * as tf from '@tensorflow/tfjs-core';
import { chain, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { scaleByAdam } from '@emosens/moments';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle.
import { registerCpuKernels } from '../../../backend-cpu/src/index.js';
import { addDecayedWeights, applyIfFinite, emaParams, lookahead, masked, multiSteps, readEmaParams, scaleByLearningRate } from '../../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());

// The README's example: every wrapper nested in one chain.
const make = () => {
  const adamw = chain(scaleByAdam(), masked(addDecayedWeights(0.01), (_name, p) => p.rank >= 2), scaleByLearningRate(1e-3));
  return chain(applyIfFinite(multiSteps(lookahead(adamw, { syncPeriod: 5, alpha: 0.5 }), { everyK: 4 }), { maxConsecutiveErrors: 3 }), emaParams({ decay: 0.99 })) as GradientTransformation<StateValue>;
};

describe('the wrappers nested (README example)', () => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerCpuKernels({ precision: 'exact' });
  });
  afterAll(() => unregister());

  it('runs fused, equal to composed bit for bit, over 24 steps with a NaN one', () => {
    const init = { w: tf.randomNormal([4, 3], 0, 1, 'float32', 1), b: tf.zeros([3]) };
    const fusedOpt = statefulOptimizer(make(), init);
    const composedOpt = statefulOptimizer(make(), init, { fused: false });
    tf.dispose(Object.values(init));
    for (let t = 0; t < 24; t++) {
      const g = { w: tf.randomNormal([4, 3], 0, 1, 'float32', 10 + t), b: t === 9 ? tf.tensor1d([NaN, 0, 0]) : tf.randomNormal([3], 0, 1, 'float32', 50 + t) };
      fusedOpt.step(g);
      composedOpt.step(g);
      tf.dispose(Object.values(g));
      expect(fusedOpt.path).toBe('fused');
    }
    expect(v(fusedOpt.params.w)).toEqual(v(composedOpt.params.w));
    expect(v(fusedOpt.params.b)).toEqual(v(composedOpt.params.b));
    expect(v(fusedOpt.params.b).every(Number.isFinite)).toBe(true);
    expect(v(readEmaParams(fusedOpt.state).w)).toEqual(v(readEmaParams(composedOpt.state).w));
    fusedOpt.dispose();
    composedOpt.dispose();
  });
});
