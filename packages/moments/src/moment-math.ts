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
 * Factored second-moment statistics of a gradient of rank >= 2 (over its first axis and the
 * rest): `r = mean(g^2 over all axes but 0) + eps` per row, `c = mean(g^2 over axis 0) + eps`
 * per column. Each mean is a sum of `g^2 / n`, the order in which tfjs's cpu backend computes
 * `mean`; a sum over an empty axis is 0.
 */
export function factoredStatisticsSym(g: Sym, eps: number): { r: Sym; c: Sym } {
  const sq = fx.square(g);
  return { r: fx.add(fx.rowSum(fx.div(sq, fx.cols(g))), eps), c: fx.add(fx.colSum(fx.div(sq, fx.rows(g))), eps) };
}
