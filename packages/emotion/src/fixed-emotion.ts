import { check, composedUpdate, fx, type EmptyState, type FusionForm, type GradientTransformation } from '@emosens/core';
import type {} from './track-emotion.js';

/**
 * Publishes a constant `emotion` signal (and `calm` = false) without looking at the loss.
 * Use it to run emotion-driven blocks at a fixed emotion (e.g. `fixedEmotion(0)` turns
 * off the step cooling and keeps the filter at its base threshold), or in tests.
 *
 * ```ts
 * chain(fixedEmotion(0), rootFiltered(scaleByAdam()), scaleByLearningRate(1e-3))
 * ```
 */
export function fixedEmotion(value: number): GradientTransformation<EmptyState> {
  const name = 'fixedEmotion';
  const s = check.number(name, 'value', value, { min: -1, max: 1 });
  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state, _params, context) {
      context.publish('emotion', fx.const(s), name);
      context.publish('calm', fx.const(0), name, 'bool');
      return { updates, state };
    },
  };

  return {
    name,
    init: () => ({}),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
