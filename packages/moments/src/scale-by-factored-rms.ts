import * as tf from '@tensorflow/tfjs-core';
import {
  check,
  EmosensError,
  initPerParameter,
  composedUpdate,
  fx,
  type FusionForm,
  type GradientTransformation,
  type LeafRef,
  type Sym,
  type PerParameter,
} from '@emosens/core';
import { factoredStatisticsSym, updateMomentSym } from './moment-math.js';

/** Options of {@link scaleByFactoredRms}. */
export interface ScaleByFactoredRmsOptions {
  /** Decay of the row and column averages. Default 0.9 (EmoAiry uses its beta1 here). */
  readonly decay?: number;
  /** Added to the root of the product (and, with `average: 'root'`, to the statistics). Default 1e-8. */
  readonly eps?: number;
  /**
   * What the row and column averages average: `'root'` (EmoAiry v2.0) the square roots of
   * `mean(g^2) + eps`; `'square'` (EmoAiry v3.9) `mean(g^2)` itself, as Adafactor does.
   * Default `'root'`.
   */
  readonly average?: 'root' | 'square';
}

/** Per-parameter state of {@link scaleByFactoredRms}. */
export type FactoredRmsState = PerParameter<{
  /** Row average (`exp_avg_r`), shape `[d0]`. */
  readonly row: tf.Tensor1D;
  /** Column average (`exp_avg_c`), shape `[d1, ..., dn]`. */
  readonly col: tf.Tensor;
}>;

/**
 * Rescales updates of rank >= 2 parameters by factored row/column statistics (the
 * EmoAiry second moment, Adafactor-like), keeping `d0 + d1*...*dn` numbers per
 * parameter instead of one per entry.
 *
 * ```
 * r = mean(g^2 over axes 1..n) + eps          c = mean(g^2 over axis 0) + eps
 * R = decay * R + (1 - decay) * sqrt(r)       C = decay * C + (1 - decay) * sqrt(c)
 * u = g / (sqrt(R ⊗ C) + eps)
 * ```
 *
 * As in the v2.0 reference, the averages decay with beta1 and average the square roots.
 * With `average: 'square'` (the v3.9 reference, whose averages decay with beta2):
 *
 * ```
 * R = decay * R + (1 - decay) * mean(g^2 over axes 1..n)     C likewise over axis 0
 * u = g / (sqrt(R ⊗ C) + eps)
 * ```
 *
 * Route vectors elsewhere with `partition` (it throws on rank < 2).
 */
export function scaleByFactoredRms(options: ScaleByFactoredRmsOptions = {}): GradientTransformation<FactoredRmsState> {
  const name = 'scaleByFactoredRms';
  const decay = check.number(name, 'decay', options.decay ?? 0.9, { min: 0, max: 1, maxExclusive: true });
  const eps = check.number(name, 'eps', options.eps ?? 1e-8, { min: 0 });
  const average = options.average ?? 'root';
  if (average !== 'root' && average !== 'square') {
    throw new EmosensError('INVALID_OPTION', `${name}: option 'average' must be 'root' or 'square', got ${JSON.stringify(average)}.`);
  }

  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state) {
      const s = state as Record<string, { row: LeafRef; col: LeafRef } | { row: Sym; col: Sym }>;
      const next = { ...s };
      const out: Record<string, Sym> = {};
      for (const [key, g] of Object.entries(updates)) {
        const slot = s[key] as { row: LeafRef; col: LeafRef };
        const root = average === 'root';
        const { r, c } = factoredStatisticsSym(g, root ? eps : undefined);
        const row = updateMomentSym(fx.row(slot.row, key), root ? fx.sqrt(r) : r, decay);
        const col = updateMomentSym(fx.col(slot.col, key), root ? fx.sqrt(c) : c, decay);
        out[key] = fx.div(g, fx.add(fx.sqrt(fx.mul(row, col)), eps));
        next[key] = { row, col };
      }
      return { updates: out, state: next };
    },
  };

  return {
    name,
    init: (params) =>
      initPerParameter(params, (p, key) => {
        if (p.rank < 2) {
          throw new EmosensError(
            'INVALID_OPTION',
            `${name}: parameter '${key}' has rank ${p.rank}; factored moments need rank >= 2 (route it with partition).`,
          );
        }
        return { row: tf.zeros([p.shape[0]!]) as tf.Tensor1D, col: tf.zeros(p.shape.slice(1)) };
      }),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
