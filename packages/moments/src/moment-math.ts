import * as tf from '@tensorflow/tfjs-core';
import { fx, type Sym, type SymLike } from '@emosens/core';

/**
 * Exponential moving average `beta * m + (1 - beta) * x`, over symbolic values: the one place
 * moments are updated (every path derives from it).
 */
export function updateMomentSym(m: Sym, x: Sym, beta: number): Sym {
  return fx.add(fx.mul(m, beta), fx.mul(x, 1 - beta));
}

/**
 * Bias correction denominator after `count` updates, `1 - beta^count`, written
 * `-expm1(count * ln(beta))`: `1 - pow(beta, t)` in float32 loses digits to cancellation when
 * `beta^t` is near 1 (at t = 1 with beta = 0.999, about 1e-5 relative), this form keeps about 1e-7.
 */
export function biasCorrectionSym(beta: number, count: SymLike): Sym {
  return fx.neg(fx.expm1(fx.mul(count, Math.log(beta))));
}

/**
 * {@link factoredStatistics} over a symbolic gradient: `r` per row, `c` per column. Each mean
 * is a sum of `g^2 / n`, the order in which tfjs's cpu backend computes `mean`.
 */
export function factoredStatisticsSym(g: Sym, eps: number): { r: Sym; c: Sym } {
  const sq = fx.square(g);
  return { r: fx.add(fx.rowSum(fx.div(sq, fx.cols(g))), eps), c: fx.add(fx.colSum(fx.div(sq, fx.rows(g))), eps) };
}

/**
 * Factored second-moment statistics of a tensor of rank >= 2 (over its first axis and
 * the rest): `r = mean(g^2 over all axes but 0) + eps` of shape `[d0]`, and
 * `c = mean(g^2 over axis 0) + eps` of shape `[d1, ..., dn]`.
 */
export function factoredStatistics(g: tf.Tensor, eps: number): { r: tf.Tensor1D; c: tf.Tensor } {
  const rows = g.shape[0]!;
  // The sum over an empty axis is 0 (the mean `eps`); tfjs-backend-wasm's `sum` and `mean`
  // over an empty axis return uninitialised memory instead, so an empty tensor is answered here.
  if (g.size === 0) return { r: tf.fill([rows], eps) as tf.Tensor1D, c: tf.fill(g.shape.slice(1), eps) };
  const sq = tf.square(g);
  const rest = Array.from({ length: g.rank - 1 }, (_, i) => i + 1);
  const cols = g.size / rows;
  // Means as sums of `x / n` (what tfjs's cpu `mean` computes), written out so that every
  // backend computes them in the same order.
  const r = tf.add(tf.sum(tf.div(sq, cols), rest), eps) as tf.Tensor1D;
  const c = tf.add(tf.sum(tf.div(sq, rows), 0), eps);
  return { r, c };
}

/** The outer product `r ⊗ c` of a row vector `[d0]` and a column tensor `[d1, ..., dn]`. */
export function outerProduct(r: tf.Tensor1D, c: tf.Tensor): tf.Tensor {
  const rowShape = [r.shape[0], ...c.shape.map(() => 1)];
  return tf.mul(tf.reshape(r, rowShape), tf.expandDims(c, 0));
}
