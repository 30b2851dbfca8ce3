import * as tf from '@tensorflow/tfjs-core';
import { check, fx, initPerParameter, type LeafRef, type Params, type PerParameter, type Sym, type SymLike, type SymMap } from '@emosens/core';

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
export function factoredStatisticsSym(g: Sym, eps?: number): { r: Sym; c: Sym } {
  const sq = fx.square(g);
  const r = fx.rowSum(fx.div(sq, fx.cols(g)));
  const c = fx.colSum(fx.div(sq, fx.rows(g)));
  return eps === undefined ? { r, c } : { r: fx.add(r, eps), c: fx.add(c, eps) };
}

/** `b1`, `b2` (each in [0, 1)) and `eps` (>= 0) of an Adam-family block, validated once, naming the block. */
export function adamOptions(name: string, options: { readonly b1?: number; readonly b2?: number; readonly eps?: number }): { b1: number; b2: number; eps: number } {
  return {
    b1: check.number(name, 'b1', options.b1 ?? 0.9, { min: 0, max: 1, maxExclusive: true }),
    b2: check.number(name, 'b2', options.b2 ?? 0.999, { min: 0, max: 1, maxExclusive: true }),
    eps: check.number(name, 'eps', options.eps ?? 1e-8, { min: 0 }),
  };
}

/** The state every Adam-family block starts from: a float32 step count and two zero moments per parameter. */
export function initMoments(params: Params): { count: tf.Scalar; mu: PerParameter<tf.Tensor>; nu: PerParameter<tf.Tensor> } {
  return {
    count: tf.scalar(0),
    mu: initPerParameter(params, (p) => tf.zerosLike(p)),
    nu: initPerParameter(params, (p) => tf.zerosLike(p)),
  };
}

/** An Adam-family state as its fused form sees it. */
export type MomentsSym = { readonly count: LeafRef; readonly mu: Record<string, LeafRef | Sym>; readonly nu: Record<string, LeafRef | Sym> };

/**
 * One step of Adam's two moments, over symbolic values: the count advanced, and per
 * parameter `m = b1 m + (1 - b1) u` and `v = b2 v + (1 - b2) u^2`, both already placed in the
 * returned `mu` / `nu` (the new state's maps).
 */
export function stepMomentsSym(
  updates: SymMap,
  state: MomentsSym,
  b1: number,
  b2: number,
): { count: Sym; mu: Record<string, LeafRef | Sym>; nu: Record<string, LeafRef | Sym>; each: { key: string; u: Sym; m: Sym; v: Sym }[] } {
  const count = fx.add(fx.step(state.count), 1);
  const mu = { ...state.mu };
  const nu = { ...state.nu };
  const each = Object.entries(updates).map(([key, u]) => {
    const m = updateMomentSym(fx.elem(state.mu[key] as LeafRef, key), u, b1);
    const v = updateMomentSym(fx.elem(state.nu[key] as LeafRef, key), fx.square(u), b2);
    mu[key] = m;
    nu[key] = v;
    return { key, u, m, v };
  });
  return { count, mu, nu, each };
}
