import * as tf from '@tensorflow/tfjs-core';
import { check, composedUpdate, EmosensError, fx, initPerParameter, type FusionForm, type GradientTransformation, type LeafRef, type PerParameter, type Sym } from '@emosens/core';
import { biasCorrectionSym, updateMomentSym } from './moment-math.js';

/** Options of {@link ema}, optax's `ema` arguments. */
export interface EmaOptions {
  /** Decay of the average, in [0, 1). Required. */
  readonly decay: number;
  /** Divide the average by `1 - decay^t` (optax's `debias`). Default true. */
  readonly debias?: boolean;
}

/** State of {@link ema}. */
export type EmaState = {
  /** Updates seen so far, float32 scalar. */
  readonly count: tf.Scalar;
  /** The moving average per parameter, each the shape of its parameter. */
  readonly ema: PerParameter<tf.Tensor>;
};

/**
 * Exponential moving average of the updates, as optax's `ema` (unlike {@link trace}, which sums:
 * `trace = decay * trace + u`):
 *
 * ```
 * m = decay * m + (1 - decay) * u          (m starts at 0)
 * out = debias ? m / (1 - decay^t) : m
 * ```
 *
 * Options: `decay` (required), `debias = true`. Adafactor's `momentum` is `ema({ decay, debias: false })`.
 * The bias correction is written `-expm1(t ln(decay))` (the form every block here uses), where optax
 * computes `1 - decay^t`: equal up to float32 rounding.
 *
 * ```ts
 * chain(ema({ decay: 0.9 }), scaleByLearningRate(0.1))
 * ```
 */
export function ema(options: EmaOptions): GradientTransformation<EmaState> {
  const name = 'ema';
  if (typeof options !== 'object' || options === null) {
    throw new EmosensError('INVALID_OPTION', `${name}: options must be an object with 'decay', got ${String(options)}.`);
  }
  const decay = check.number(name, 'decay', options.decay, { min: 0, max: 1, maxExclusive: true });
  const debias = check.boolean(name, 'debias', options.debias ?? true);

  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state) {
      const s = state as { count: LeafRef; ema: Record<string, LeafRef | Sym> };
      const count = fx.add(fx.step(s.count), 1);
      const next = { ...s.ema };
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(updates)) {
        const m = updateMomentSym(fx.elem(s.ema[key] as LeafRef, key), u, decay);
        next[key] = m;
        out[key] = debias ? fx.div(m, biasCorrectionSym(decay, count)) : m;
      }
      return { updates: out, state: { count, ema: next } };
    },
  };

  return {
    name,
    init: (params) => ({ count: tf.scalar(0), ema: initPerParameter(params, (p) => tf.zerosLike(p)) }),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
