import * as tf from '@tensorflow/tfjs-core';
import { check, composedUpdate, fx, type FusionForm, type GradientTransformation, type LeafRef, type PerParameter, type Sym } from '@emosens/core';
import { adamOptions, biasCorrectionSym, initMoments, stepMomentsSym, type MomentsSym } from './moment-math.js';

/** Options of {@link scaleByNadam}. */
export interface ScaleByNadamOptions {
  /** Decay of the first moment. Default 0.9. */
  readonly b1?: number;
  /** Decay of the second moment. Default 0.999. */
  readonly b2?: number;
  /** Added to the root of the bias-corrected second moment. Default 1e-8. */
  readonly eps?: number;
  /** Momentum decay `psi` of the momentum schedule `mu_t`. Default 4e-3. */
  readonly momentumDecay?: number;
}

/** State of {@link scaleByNadam}. */
export type NadamState = {
  /** Updates seen so far, float32 scalar. */
  readonly count: tf.Scalar;
  /** Running product `mu_1 * ... * mu_t` of the momentum schedule, float32 scalar (starts at 1). */
  readonly muProduct: tf.Scalar;
  /** First moment per parameter (`exp_avg`), each the shape of its parameter. */
  readonly mu: PerParameter<tf.Tensor>;
  /** Second moment per parameter (`exp_avg_sq`), each the shape of its parameter. */
  readonly nu: PerParameter<tf.Tensor>;
};

/**
 * Rescales updates by NAdam's moments (Adam with Nesterov momentum, Dozat 2016), as
 * `torch.optim.NAdam` (torch 1.13) computes them, without the learning rate and weight decay:
 *
 * ```
 * mu_t      = b1 * (1 - 0.5 * 0.96^(t * momentumDecay))
 * mu_next   = b1 * (1 - 0.5 * 0.96^((t + 1) * momentumDecay))
 * muProduct = muProduct * mu_t                               (starts at 1)
 * m = b1 * m + (1 - b1) * u
 * v = b2 * v + (1 - b2) * u^2
 * denom = sqrt(v / bc2) + eps                                bc2 = 1 - b2^t
 * out = u * (1 - mu_t) / (1 - muProduct) / denom + m * mu_next / (1 - muProduct * mu_t * mu_next) / denom
 * ```
 *
 * The second denominator is torch 1.13's `mu_product_next = mu_product * mu * mu_next`, taken
 * after `mu_product *= mu` (so `mu_t` counts twice there); later torch releases dropped the
 * second `mu_t`. The golden trajectories are torch 1.13's, so this block follows it.
 *
 * `out` is the step torch applies divided by `lr`, so `scaleByLearningRate(lr)` after it gives
 * torch's step. Options: `b1 = 0.9`, `b2 = 0.999`, `eps = 1e-8`, `momentumDecay = 4e-3`.
 * Matches `torch.optim.NAdam(betas=(b1, b2), eps, momentum_decay)` (torch 1.13).
 *
 * ```ts
 * const nadam = chain(scaleByNadam(), scaleByLearningRate(2e-3));
 * ```
 */
export function scaleByNadam(options: ScaleByNadamOptions = {}): GradientTransformation<NadamState> {
  const name = 'scaleByNadam';
  const { b1, b2, eps } = adamOptions(name, options);
  const momentumDecay = check.number(name, 'momentumDecay', options.momentumDecay ?? 4e-3, { min: 0 });
  // 0.96^(t * psi) = exp(t * psi * ln 0.96)
  const decayLog = momentumDecay * Math.log(0.96);

  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state) {
      const s = state as MomentsSym & { muProduct: LeafRef };
      const { count, mu, nu, each } = stepMomentsSym(updates, s, b1, b2);
      const muT = fx.mul(fx.sub(1, fx.mul(fx.exp(fx.mul(count, decayLog)), 0.5)), b1);
      const muNext = fx.mul(fx.sub(1, fx.mul(fx.exp(fx.mul(fx.add(count, 1), decayLog)), 0.5)), b1);
      const muProduct = fx.mul(fx.step(s.muProduct), muT);
      const gradCoef = fx.div(fx.sub(1, muT), fx.sub(1, muProduct));
      // torch 1.13 (the recordings' reference) forms mu_product_next from the updated product
      // times mu_t again: mu_product * mu_t * mu_next, so mu_t counts twice
      const momentCoef = fx.div(muNext, fx.sub(1, fx.mul(fx.mul(muProduct, muT), muNext)));
      const bc2 = biasCorrectionSym(b2, count);
      const out: Record<string, Sym> = {};
      for (const { key, u: g, m, v } of each) {
        const denom = fx.add(fx.sqrt(fx.div(v, bc2)), eps);
        out[key] = fx.add(fx.div(fx.mul(g, gradCoef), denom), fx.div(fx.mul(m, momentCoef), denom));
      }
      return { updates: out, state: { count, muProduct, mu, nu } };
    },
  };

  return {
    name,
    init: (params) => ({ ...initMoments(params), muProduct: tf.scalar(1) }),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
