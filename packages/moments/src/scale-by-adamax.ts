import * as tf from '@tensorflow/tfjs-core';
import { composedUpdate, fx, type FusionForm, type GradientTransformation, type LeafRef, type PerParameter, type Sym } from '@emosens/core';
import { adamOptions, biasCorrectionSym, initMoments, updateMomentSym } from './moment-math.js';

/** Options of {@link scaleByAdamax}. */
export interface ScaleByAdamaxOptions {
  /** Decay of the first moment. Default 0.9. */
  readonly b1?: number;
  /** Decay of the infinity norm. Default 0.999. */
  readonly b2?: number;
  /** Added to `|u|` before the maximum. Default 1e-8. */
  readonly eps?: number;
}

/** State of {@link scaleByAdamax}. */
export type AdamaxState = {
  /** Updates seen so far, float32 scalar (for the bias correction). */
  readonly count: tf.Scalar;
  /** First moment per parameter (`exp_avg`), each the shape of its parameter. */
  readonly mu: PerParameter<tf.Tensor>;
  /** Exponentially weighted infinity norm per parameter (`exp_inf`), each the shape of its parameter. */
  readonly nu: PerParameter<tf.Tensor>;
};

/**
 * Rescales updates by Adam's first moment over an infinity norm (Adamax, Kingma & Ba, arXiv 1412.6980, section 7):
 *
 * ```
 * m = b1 * m + (1 - b1) * u
 * exp_inf = max(b2 * exp_inf, |u| + eps)
 * out = m / (bc1 * exp_inf)          bc1 = 1 - b1^t
 * ```
 *
 * Options: `b1 = 0.9`, `b2 = 0.999`, `eps = 1e-8`.
 * Matches `torch.optim.Adamax(betas=(b1, b2), eps)` (torch 1.13).
 *
 * ```ts
 * const adamax = chain(scaleByAdamax(), scaleByLearningRate(2e-3));
 * ```
 */
export function scaleByAdamax(options: ScaleByAdamaxOptions = {}): GradientTransformation<AdamaxState> {
  const name = 'scaleByAdamax';
  const { b1, b2, eps } = adamOptions(name, options);

  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state) {
      const s = state as { count: LeafRef; mu: Record<string, LeafRef | Sym>; nu: Record<string, LeafRef | Sym> };
      const count = fx.add(fx.step(s.count), 1);
      const bc1 = biasCorrectionSym(b1, count);
      const mu = { ...s.mu };
      const nu = { ...s.nu };
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(updates)) {
        const m = updateMomentSym(fx.elem(s.mu[key] as LeafRef, key), u, b1);
        const e = fx.max(fx.mul(fx.elem(s.nu[key] as LeafRef, key), b2), fx.add(fx.abs(u), eps));
        mu[key] = m;
        nu[key] = e;
        out[key] = fx.div(m, fx.mul(bc1, e));
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
