import * as tf from '@tensorflow/tfjs-core';
import { elementwise, fx, type EmptyState, type GradientTransformation } from '@emosens/core';

/**
 * `sign(x)` as `(x > 0) - (x < 0)`. tfjs-backend-wasm 4.22's `Sign` kernel returns 0 for
 * small nonzero values (e.g. 3e-12), which would silently drop EmoCats's steps on tiny
 * gradients there; the comparison form is exact on every backend.
 */
export function portableSign(x: tf.Tensor): tf.Tensor {
  return tf.sub(tf.cast(tf.greater(x, 0), x.dtype), tf.cast(tf.less(x, 0), x.dtype));
}

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
