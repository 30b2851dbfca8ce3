import * as tf from '@tensorflow/tfjs-core';
import { statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { expect } from 'vitest';

/** A tensor's values as a plain array. */
export const v = (t: tf.Tensor | undefined): number[] => Array.from(t!.dataSync());

/**
 * Runs `make()` twice from the same parameters (a [2, 3] matrix and a vector) on the same
 * gradients, fused (the cpu target must be registered) and composed, and expects every step
 * fused, the two bit for bit equal, the parameters moved, and no tensor left per step.
 */
export function expectFusedTwinsEqual(make: () => GradientTransformation<StateValue>, steps: number): void {
  const init = { w: [0.5, -1, 2, 0.25, -0.75, 1.5], b: [0.1, -0.2] };
  const makeParams = () => ({ w: tf.variable(tf.tensor(init.w, [2, 3])), b: tf.variable(tf.tensor(init.b)) });
  const pf = makeParams();
  const pc = makeParams();
  const fusedOpt = statefulOptimizer(make(), pf);
  const composedOpt = statefulOptimizer(make(), pc, { fused: false });
  let before = 0;
  for (let t = 0; t < steps; t++) {
    if (t === 1) before = tf.memory().numTensors;
    const g = { w: tf.tensor(init.w.map((x, i) => Math.sin(x + i + t)), [2, 3]), b: tf.tensor1d(init.b.map((x, i) => Math.cos(x + i * t))) };
    fusedOpt.step(g);
    composedOpt.step(g);
    tf.dispose(Object.values(g));
    expect(fusedOpt.path).toBe('fused');
  }
  expect(tf.memory().numTensors).toBe(before);
  expect(v(pf.w)).toEqual(v(pc.w));
  expect(v(pf.b)).toEqual(v(pc.b));
  expect(v(pf.w)).not.toEqual(init.w.map(Math.fround));
  fusedOpt.dispose();
  composedOpt.dispose();
  tf.dispose([...Object.values(pf), ...Object.values(pc)]);
}
