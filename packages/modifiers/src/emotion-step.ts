import * as tf from '@tensorflow/tfjs-core';
import type { EmptyState, GradientTransformation } from '@emosens/core';
import type {} from '@emosens/emotion'; // declares the `emotion` signal read below

/**
 * Cools the step while the loss moves fast: `u = u * (1 - |s|)`, with `s` the emotion
 * scalar (the `emotion` signal). At calm (`s = 0`) the step is whole.
 *
 * ```ts
 * chain(trackEmotion(), scaleByAdam(), scaleByEmotionStep(), scaleByLearningRate(1e-3))
 * ```
 */
export function scaleByEmotionStep(): GradientTransformation<EmptyState> {
  const name = 'scaleByEmotionStep';
  return {
    name,
    init: () => ({}),
    update(updates, state, _params, context) {
      const factor = tf.sub(1, tf.abs(context.read('emotion', name)));
      const out: Record<string, tf.Tensor> = {};
      for (const [key, u] of Object.entries(updates)) out[key] = tf.mul(u, factor);
      return { updates: out, state };
    },
  };
}
