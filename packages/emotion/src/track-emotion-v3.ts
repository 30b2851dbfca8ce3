import { composedUpdate, fx, type FusionForm, type GradientTransformation, type Params } from '@emosens/core';
import type {} from './track-emotion.js';

/**
 * State of {@link trackEmotionV3}: host numbers (float64), not tensors, because the
 * scalar rule must run in float64 (see the warning on {@link trackEmotionV3}).
 */
export type EmotionV3State = {
  /** Finite losses seen so far; 0 means the averages have not started. */
  readonly count: number;
  /** Short loss average (rate 0.3); meaningless while `count` is 0. */
  readonly short: number;
  /** Medium loss average (rate 0.05); meaningless while `count` is 0. */
  readonly medium: number;
  /** Long loss average (rate 0.01); meaningless while `count` is 0. */
  readonly long: number;
};

/** The host values one step of {@link trackEmotionV3} computes. */
export interface EmotionV3Values {
  /** The new averages. */
  readonly state: EmotionV3State;
  /** The emotion scalar `s`, in (-1, 1); positive while the loss falls. */
  readonly scalar: number;
  /** `copysign(1 - |s|, s)`. */
  readonly trust: number;
  /** `max(medium, 1e-5)`. */
  readonly medium: number;
}

/**
 * One step of the v3 emotion rules on host numbers (float64), in the reference's order of
 * operations (`_update_ema` and `_compute_scalar` of muooon/EmoSens v3.9.1).
 */
export function emotionV3Step(state: EmotionV3State, loss: number): EmotionV3Values {
  // each average starts at the first loss: 0.3 l + 0.7 l, as the reference computes it
  const started = state.count > 0;
  const short = 0.3 * loss + 0.7 * (started ? state.short : loss);
  const medium = 0.05 * loss + 0.95 * (started ? state.medium : loss);
  const long = 0.01 * loss + 0.99 * (started ? state.long : loss);
  const scaleLong = Math.max(long, 1e-5);
  const scaleMedium = Math.max(medium, 1e-5);
  const diff = long - short;
  const diffLong = diff / scaleLong;
  const diffMedium = diff / scaleMedium;
  let scalar: number;
  if (Math.abs(diffLong) < 0.05) scalar = Math.tanh(diffLong);
  // both sides are |diff| in exact arithmetic: float64 rounding decides
  else if (Math.abs(diffMedium) * scaleMedium < Math.abs(diffLong) * scaleLong) scalar = Math.tanh(diffMedium);
  else scalar = Math.tanh(diffLong);
  // math.copysign(1 - |s|, s): the sign of s, -0 included
  const magnitude = 1 - Math.abs(scalar);
  const trust = scalar < 0 || Object.is(scalar, -0) ? -magnitude : magnitude;
  return { state: { count: state.count + 1, short, medium, long }, scalar, trust, medium: scaleMedium };
}

/**
 * Tracks the emotion of training the v3 way (the Emo family's v3.9.1 generation: EmoSens,
 * EmoAiry, EmoCats, EmoTion, EmoVoid): three loss averages and a scalar from their relative
 * difference, all in float64 on the host. Updates pass through unchanged.
 *
 * ```
 * short = 0.3 l + 0.7 short,  medium = 0.05 l + 0.95 medium,  long = 0.01 l + 0.99 long
 *                                            (each starts at the first loss)
 * sl = max(long, 1e-5),  sm = max(medium, 1e-5),  db = long - short,  dl = db / sl,  dm = db / sm
 * s  = tanh(dl)   if |dl| < 0.05
 *      tanh(dm)   else if |dm| * sm < |dl| * sl
 *      tanh(dl)   otherwise
 * trust = copysign(1 - |s|, s)
 * ```
 *
 * Publishes host values (`context.readValue`) `emotion` (s), `trust` and `emotionMedium`
 * (sm), which {@link emoPulse} reads, and the device signal `emotion` (s as a float32
 * scalar, the signal {@link trackEmotion} publishes).
 *
 * Warning, the sign: v3's `s` is positive while the loss falls (`long - short > 0`), the
 * opposite of {@link trackEmotion}'s v2 scalar. A block written for v2's `emotion` reads
 * v3's with the sign flipped.
 *
 * Needs the loss as a number (`context.lossValue`): a tensor loss is read back once per
 * step, and a fused step with this block is traced again every step. The rule runs in
 * float64 because both sides of `|dm| * sm < |dl| * sl` equal `|db|` in exact arithmetic:
 * which branch is taken is decided by float64 rounding, as in the reference (float32
 * takes other branches). Throws `MISSING_LOSS` without a loss.
 *
 * A non-finite loss leaves the state unchanged (the reference would carry NaN on for
 * ever) and publishes NaN for `emotion`, `trust` and `emotionMedium`; the step engine's
 * non-finite guard (`skipNonFinite`, the tfjs adapter's `'skip'`) skips the device part.
 *
 * From muooon/EmoSens v3.9.1 (`optimizer/emosens.py`, `_update_ema` and `_compute_scalar`).
 *
 * ```ts
 * const tx = chain(trackEmotionV3(), emoPulse(), scaleByAdam(), scaleByLearningRate({ fromValue: 'stepSize' }));
 * ```
 */
export function trackEmotionV3(): GradientTransformation<EmotionV3State> {
  const name = 'trackEmotionV3';
  // The math, once, on host numbers; the composed update is derived from the form.
  const fusion: FusionForm = {
    update(updates, state, _params, context) {
      const previous = state as EmotionV3State;
      const loss = context.lossValue(name);
      if (!Number.isFinite(loss)) {
        context.publishValue('emotion', NaN, name);
        context.publishValue('trust', NaN, name);
        context.publishValue('emotionMedium', NaN, name);
        context.publish('emotion', fx.uniform(NaN), name);
        return { updates, state: previous };
      }
      const next = emotionV3Step(previous, loss);
      context.publishValue('emotion', next.scalar, name);
      context.publishValue('trust', next.trust, name);
      context.publishValue('emotionMedium', next.medium, name);
      context.publish('emotion', fx.uniform(next.scalar), name);
      return { updates, state: next.state };
    },
  };
  return {
    name,
    init: (_params: Params) => ({ count: 0, short: 0, medium: 0, long: 0 }),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
