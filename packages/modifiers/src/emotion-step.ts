import { composedUpdate, fx, type EmptyState, type FusionForm, type GradientTransformation, type Sym } from '@emosens/core';
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
  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state, _params, context) {
      const factor = fx.sub(1, fx.abs(context.read('emotion', name)));
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(updates)) out[key] = fx.mul(u, factor);
      return { updates: out, state };
    },
  };

  return {
    name,
    init: () => ({}),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
