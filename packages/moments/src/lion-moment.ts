import * as tf from '@tensorflow/tfjs-core';
import { check, composedUpdate, fx, initPerParameter, type FusionForm, type GradientTransformation, type LeafRef, type PerParameter, type Sym } from '@emosens/core';

/** Options of {@link scaleByLionMoment}. */
export interface LionMomentOptions {
  /** Weight of the moment in the outgoing direction. Default 0.9. */
  readonly b1?: number;
  /** Decay of the moment itself. Default 0.99. */
  readonly b2?: number;
}

/** State of {@link scaleByLionMoment}: the moment per parameter (`exp_avg`), each its parameter's shape. */
export type LionMomentState = PerParameter<tf.Tensor>;

/**
 * Lion's interpolated direction (Chen et al., arXiv 2302.06675), before the sign:
 *
 * ```
 * u = b1 * m + (1 - b1) * g
 * m = b2 * m + (1 - b2) * g           (after u is taken)
 * ```
 *
 * Follow it with `scaleBySign()` for Lion and EmoCats.
 */
export function scaleByLionMoment(options: LionMomentOptions = {}): GradientTransformation<LionMomentState> {
  const name = 'scaleByLionMoment';
  const b1 = check.number(name, 'b1', options.b1 ?? 0.9, { min: 0, max: 1 });
  const b2 = check.number(name, 'b2', options.b2 ?? 0.99, { min: 0, max: 1 });
  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state) {
      const s = state as Record<string, LeafRef | Sym>;
      const next = { ...s };
      const out: Record<string, Sym> = {};
      for (const [key, g] of Object.entries(updates)) {
        const m = fx.elem(s[key] as LeafRef, key);
        out[key] = fx.add(fx.mul(g, 1 - b1), fx.mul(m, b1));
        next[key] = fx.add(fx.mul(m, b2), fx.mul(g, 1 - b2));
      }
      return { updates: out, state: next };
    },
  };

  return {
    name,
    init: (params) => initPerParameter(params, (p) => tf.zerosLike(p)),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
