import { elementwise, fx, type EmptyState, type GradientTransformation } from '@emosens/core';

/**
 * Replaces each update by its sign (Lion-style, Chen et al., arXiv 2302.06675): `u = sign(u)`.
 *
 * ```ts
 * chain(scaleByLionMoment(), scaleBySign(), scaleByLearningRate(1e-4))
 * ```
 */
export function scaleBySign(): GradientTransformation<EmptyState> {
  return elementwise('scaleBySign', (u) => fx.sign(u));
}

/** Squashes each update smoothly into (-1, 1): `u = u / (1 + |u|)`. */
export function scaleBySoftsign(): GradientTransformation<EmptyState> {
  return elementwise('scaleBySoftsign', (u) => fx.div(u, fx.add(fx.abs(u), 1)));
}
