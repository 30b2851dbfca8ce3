import * as tf from '@tensorflow/tfjs-core';
import { check, composedUpdate, fx, initPerParameter, type FusionForm, type GradientTransformation, type LeafRef, type PerParameter, type Sym } from '@emosens/core';
import { adamOptions, biasCorrectionSym, initMoments, stepMomentsSym, type MomentsSym } from './moment-math.js';

/** Options of {@link scaleByAdam}. */
export interface ScaleByAdamOptions {
  /** Decay of the first moment. Default 0.9. */
  readonly b1?: number;
  /** Decay of the second moment. Default 0.999. */
  readonly b2?: number;
  /** Added to the root of the second moment. Default 1e-8. */
  readonly eps?: number;
  /** Divide the moments by `1 - beta^t` (Adam). Default true; the Emo optimizers use false. */
  readonly biasCorrection?: boolean;
  /**
   * AMSGrad (Reddi et al., 2018; torch's `amsgrad=True`): divide by the root of the running
   * maximum of the second moment, kept per parameter as `nuMax`. Default false (then the state
   * has no `nuMax`, and the step is unchanged).
   */
  readonly amsgrad?: boolean;
  /**
   * optax's `eps_root`: added to the (bias-corrected) second moment inside the root,
   * `sqrt(v / bc2 + epsRoot) + eps`. Default 0, which keeps torch's order of operations above.
   */
  readonly epsRoot?: number;
}

/** State of {@link scaleByAdam}. */
export type AdamState = {
  /** Updates seen so far, float32 scalar (a tensor, so a step can be undone on the device). */
  readonly count: tf.Scalar;
  /** First moment per parameter (`exp_avg`), each the shape of its parameter. */
  readonly mu: PerParameter<tf.Tensor>;
  /** Second moment per parameter (`exp_avg_sq`), each the shape of its parameter. */
  readonly nu: PerParameter<tf.Tensor>;
  /** With `amsgrad` only: the running maximum of `nu` per parameter (`max_exp_avg_sq`). */
  readonly nuMax?: PerParameter<tf.Tensor>;
};

/**
 * Rescales updates by Adam's moments (Kingma & Ba, arXiv 1412.6980).
 *
 * ```
 * m = b1 * m + (1 - b1) * g
 * v = b2 * v + (1 - b2) * g^2
 * u = (m / bc1) / (sqrt(v) / sqrt(bc2) + eps)     bc_i = 1 - b_i^t, or 1 without bias correction
 * ```
 *
 * With `amsgrad: true` (torch's `amsgrad=True`), `nuMax = max(nuMax, v)` and the denominator is
 * `sqrt(nuMax) / sqrt(bc2) + eps`. With `epsRoot > 0` (optax's `eps_root`) the denominator is
 * `sqrt(v / bc2 + epsRoot) + eps`. Options: `b1 = 0.9`, `b2 = 0.999`, `eps = 1e-8`,
 * `biasCorrection = true`, `amsgrad = false`, `epsRoot = 0`.
 *
 * The order of operations follows `torch.optim.Adam`, so a float32 run matches it.
 *
 * ```ts
 * const adam = chain(scaleByAdam(), scaleByLearningRate(1e-3));
 * ```
 */
export function scaleByAdam(options: ScaleByAdamOptions = {}): GradientTransformation<AdamState> {
  const name = 'scaleByAdam';
  const { b1, b2, eps } = adamOptions(name, options);
  const corrected = check.boolean(name, 'biasCorrection', options.biasCorrection ?? true);
  const amsgrad = check.boolean(name, 'amsgrad', options.amsgrad ?? false);
  const epsRoot = check.number(name, 'epsRoot', options.epsRoot ?? 0, { min: 0 });

  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state) {
      const s = state as MomentsSym & { nuMax?: Record<string, LeafRef | Sym> };
      const { count, mu, nu, each } = stepMomentsSym(updates, s, b1, b2);
      const bc1 = corrected ? biasCorrectionSym(b1, count) : 1;
      const bc2 = corrected ? fx.sqrt(biasCorrectionSym(b2, count)) : 1;
      const nuMax = amsgrad ? { ...s.nuMax } : undefined;
      const out: Record<string, Sym> = {};
      for (const { key, m, v } of each) {
        let root = v;
        if (nuMax) {
          root = fx.max(fx.elem(nuMax[key] as LeafRef, key), v);
          nuMax[key] = root;
        }
        const rootTerm =
          epsRoot > 0
            ? fx.sqrt(fx.add(corrected ? fx.div(root, biasCorrectionSym(b2, count)) : root, epsRoot)) // optax's order
            : corrected
              ? fx.div(fx.sqrt(root), bc2)
              : fx.sqrt(root);
        const denom = fx.add(rootTerm, eps);
        out[key] = fx.div(corrected ? fx.div(m, bc1) : m, denom);
      }
      return { updates: out, state: nuMax ? { count, mu, nu, nuMax } : { count, mu, nu } };
    },
  };

  return {
    name,
    init: (params) => ({
      ...initMoments(params),
      ...(amsgrad ? { nuMax: initPerParameter(params, (p) => tf.zerosLike(p)) } : {}),
    }),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
