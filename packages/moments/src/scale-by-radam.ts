import * as tf from '@tensorflow/tfjs-core';
import { composedUpdate, fx, type FusionForm, type GradientTransformation, type PerParameter, type Sym } from '@emosens/core';
import { adamOptions, biasCorrectionSym, initMoments, stepMomentsSym, type MomentsSym } from './moment-math.js';

/** Options of {@link scaleByRadam}. */
export interface ScaleByRadamOptions {
  /** Decay of the first moment. Default 0.9. */
  readonly b1?: number;
  /** Decay of the second moment. Default 0.999. */
  readonly b2?: number;
  /** Added to the root of the second moment. Default 1e-8. */
  readonly eps?: number;
}

/** State of {@link scaleByRadam}. */
export type RadamState = {
  /** Updates seen so far, float32 scalar. */
  readonly count: tf.Scalar;
  /** First moment per parameter (`exp_avg`), each the shape of its parameter. */
  readonly mu: PerParameter<tf.Tensor>;
  /** Second moment per parameter (`exp_avg_sq`), each the shape of its parameter. */
  readonly nu: PerParameter<tf.Tensor>;
};

/**
 * Rescales updates by Rectified Adam (Liu et al., arXiv 1908.03265), as `torch.optim.RAdam`
 * (torch 1.13) computes them, without the learning rate and weight decay:
 *
 * ```
 * m = b1 * m + (1 - b1) * u
 * v = b2 * v + (1 - b2) * u^2
 * rho_inf = 2 / (1 - b2) - 1
 * rho_t = rho_inf - 2 * t * b2^t / bc2                       bc_i = 1 - b_i^t
 * rho_t > 5:  rect = sqrt((rho_t - 4) (rho_t - 2) rho_inf / ((rho_inf - 4) (rho_inf - 2) rho_t))
 *             out = (m / bc1) * (sqrt(bc2) / (sqrt(v) + eps)) * rect
 * otherwise:  out = m / bc1                                  (the plain momentum step)
 * ```
 *
 * The branch is a select on the step (no host read). Options: `b1 = 0.9`, `b2 = 0.999`,
 * `eps = 1e-8`. Matches `torch.optim.RAdam(betas=(b1, b2), eps)` (torch 1.13).
 *
 * ```ts
 * const radam = chain(scaleByRadam(), scaleByLearningRate(1e-3));
 * ```
 */
export function scaleByRadam(options: ScaleByRadamOptions = {}): GradientTransformation<RadamState> {
  const name = 'scaleByRadam';
  const { b1, b2, eps } = adamOptions(name, options);
  const rhoInf = 2 / (1 - b2) - 1;

  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state) {
      const { count, mu, nu, each } = stepMomentsSym(updates, state as MomentsSym, b1, b2);
      const bc1 = biasCorrectionSym(b1, count);
      const bc2 = biasCorrectionSym(b2, count);
      // b2^t = exp(t * ln b2)
      const rhoT = fx.sub(rhoInf, fx.div(fx.mul(fx.mul(count, 2), fx.exp(fx.mul(count, Math.log(b2)))), bc2));
      const rectified = fx.gt(rhoT, 5);
      // Clamped at 0 so the unused branch (rho_t <= 5) stays finite; where it is used the argument is > 0.
      const rectArg = fx.div(fx.mul(fx.mul(fx.sub(rhoT, 4), fx.sub(rhoT, 2)), rhoInf), fx.mul(rhoT, (rhoInf - 4) * (rhoInf - 2)));
      const rect = fx.sqrt(fx.max(rectArg, 0));
      const sqrtBc2 = fx.sqrt(bc2);
      const out: Record<string, Sym> = {};
      for (const { key, m, v } of each) {
        const corrected = fx.div(m, bc1);
        const adaptive = fx.div(sqrtBc2, fx.add(fx.sqrt(v), eps));
        out[key] = fx.select(rectified, fx.mul(fx.mul(corrected, adaptive), rect), corrected);
      }
      return { updates: out, state: { count, mu, nu } };
    },
  };

  return {
    name,
    init: initMoments,
    update: composedUpdate(name, fusion),
    fusion,
  };
}
