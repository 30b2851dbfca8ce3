import { check, elementwise, fx, type EmptyState, type GradientTransformation } from '@emosens/core';

/**
 * Multiplies every update by a constant, as optax's `scale`: `u <- factor * u`. Unlike
 * `scaleByLearningRate`, it does not flip the sign (`scale(-1)` is optax's descent flip,
 * e.g. at the end of Adafactor).
 *
 * ```ts
 * chain(scaleByAdafactorRms(), scale(1e-2), scale(-1))
 * ```
 */
export function scale(factor: number): GradientTransformation<EmptyState> {
  const f = check.number('scale', 'factor', factor);
  return elementwise('scale', (u) => fx.mul(u, f));
}
