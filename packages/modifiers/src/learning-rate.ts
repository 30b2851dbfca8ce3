import * as tf from '@tensorflow/tfjs-core';
import { check, EmosensError, type GradientTransformation } from '@emosens/core';

/** A learning rate as a function of the step number (0 on the first step). */
export type Schedule = (step: number) => number;

/** State of {@link scaleByLearningRate}: steps taken (used by schedules). */
export type LearningRateState = { readonly count: number };

/**
 * Scales by the learning rate and flips the sign for descent: `u = -lr * u`. This is
 * the one place in emosens where the descent sign is applied.
 *
 * `learningRate` is a number or a schedule `step => lr` (evaluated on the CPU from the
 * step count, so it never reads tensors).
 *
 * ```ts
 * chain(scaleByAdam(), scaleByLearningRate(1e-3))
 * chain(scaleByAdam(), scaleByLearningRate((t) => 1e-3 * Math.min(1, (t + 1) / 100)))  // warm-up
 * ```
 */
export function scaleByLearningRate(learningRate: number | Schedule): GradientTransformation<LearningRateState> {
  const name = 'scaleByLearningRate';
  const rateAt =
    typeof learningRate === 'function'
      ? (step: number) => {
          const lr = learningRate(step);
          if (!Number.isFinite(lr)) {
            throw new EmosensError('INVALID_OPTION', `${name}: the schedule returned ${lr} at step ${step}; expected a finite number.`);
          }
          return lr;
        }
      : ((lr: number) => () => lr)(check.number(name, 'learningRate', learningRate, { min: 0 }));
  return {
    name,
    init: () => ({ count: 0 }),
    update(updates, state) {
      const lr = rateAt(state.count);
      const out: Record<string, tf.Tensor> = {};
      for (const [key, u] of Object.entries(updates)) out[key] = tf.mul(u, -lr);
      return { updates: out, state: { count: state.count + 1 } };
    },
  };
}
