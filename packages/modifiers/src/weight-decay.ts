import { check, elementwise, fx, type EmptyState, type GradientTransformation } from '@emosens/core';

/**
 * Decoupled weight decay (Loshchilov & Hutter, arXiv 1711.05101): `u = u + wd * p`.
 * Placed before `scaleByLearningRate(lr)` it gives `p -= lr * wd * p`, the decay of
 * AdamW and of the Emo optimizers.
 *
 * ```ts
 * chain(scaleByAdam(), addDecayedWeights(0.01), scaleByLearningRate(1e-3))   // AdamW
 * ```
 */
export function addDecayedWeights(weightDecay: number): GradientTransformation<EmptyState> {
  const wd = check.number('addDecayedWeights', 'weightDecay', weightDecay, { min: 0 });
  if (wd === 0) return elementwise('addDecayedWeights(0)', (u) => u);
  return elementwise('addDecayedWeights', (u, p) => fx.add(u, fx.mul(p, wd)));
}
