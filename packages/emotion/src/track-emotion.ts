import * as tf from '@tensorflow/tfjs-core';
import { check, composedUpdate, fx, type FusionForm, type GradientTransformation, type LeafRef, type Params } from '@emosens/core';

declare module '@emosens/core' {
  interface Signals {
    /** The emotion scalar of this step, `tanh(gain * (short - long))`, in (-1, 1). Float32 scalar. */
    emotion: tf.Scalar;
    /** The calm signal after this step (`should_stop` in the reference). Bool scalar. */
    calm: tf.Scalar;
  }
}

/** Options of {@link trackEmotion}. Defaults are the reference's. */
export interface TrackEmotionOptions {
  /** Weight of the new loss in the short average. Default 0.3. */
  readonly shortRate?: number;
  /** Weight of the new loss in the long average. Default 0.01. */
  readonly longRate?: number;
  /** Gain inside the tanh. Default 5. */
  readonly gain?: number;
  /** How many recent scalars the calm signal looks at. Default 32. */
  readonly calmWindow?: number;
  /** Calm needs mean |scalar| below this. Default 0.05. */
  readonly calmMeanBelow?: number;
  /** Calm needs the (population) variance of the scalars below this. Default 0.005. */
  readonly calmVarianceBelow?: number;
}

/**
 * State of {@link trackEmotion}. Every field is a tensor, the step count included, so
 * the emotion path never reads values back from the device, and a caller can leave the
 * whole state unchanged on the device (e.g. skip a step with a non-finite loss).
 */
export type EmotionState = {
  /** Steps seen so far, float32 scalar. */
  readonly count: tf.Scalar;
  /** Short loss average, float32 scalar. */
  readonly short: tf.Scalar;
  /** Long loss average, float32 scalar. */
  readonly long: tf.Scalar;
  /** The last emotion scalar, float32 scalar. */
  readonly scalar: tf.Scalar;
  /** The last `calmWindow` scalars, oldest first, float32 of shape [calmWindow]; unfilled slots are 0. */
  readonly history: tf.Tensor1D;
  /** The last calm signal, bool scalar. */
  readonly calm: tf.Scalar;
};

/** {@link calmSignal} over a symbolic window of `n` scalars (`tf.moments`' population variance). */
function calmOf(history: ReturnType<typeof fx.window>, n: number, meanBelow: number, varianceBelow: number) {
  const mean = fx.div(fx.sum(history), n);
  const variance = fx.div(fx.sum(fx.square(fx.sub(history, mean))), n);
  const meanAbs = fx.div(fx.sum(fx.abs(history)), n);
  return fx.and(fx.lt(meanAbs, meanBelow), fx.lt(variance, varianceBelow));
}

/**
 * Tracks the emotion of training from its loss and publishes two signals each step:
 * `emotion` (the emotion scalar) and `calm` (the should-stop signal). Updates pass
 * through unchanged: this block only listens.
 *
 * ```
 * short_t = 0.3 * loss_t + 0.7 * short_{t-1}      (short_0 = loss_0)
 * long_t  = 0.01 * loss_t + 0.99 * long_{t-1}     (long_0 = loss_0)
 * s_t     = tanh(5 * (short_t - long_t))
 * calm_t  = |history| = 32  and  mean(|s|) < 0.05  and  var(s) < 0.005
 * ```
 *
 * Needs the step's loss (a number or a scalar tensor); throws `MISSING_LOSS` without
 * one. When the loss is a tensor, nothing is read back to the CPU.
 *
 * Differs from the PyTorch reference: the reference appends the scalar to its calm
 * history once per parameter tensor, so its window spans 32 / (number of tensors)
 * steps; here the history holds one scalar per step, which is what the signal means.
 *
 * ```ts
 * const tx = chain(trackEmotion(), scaleByAdam(), scaleByLearningRate(1e-3));
 * ```
 */
export function trackEmotion(options: TrackEmotionOptions = {}): GradientTransformation<EmotionState> {
  const name = 'trackEmotion';
  const shortRate = check.number(name, 'shortRate', options.shortRate ?? 0.3, { min: 0, max: 1 });
  const longRate = check.number(name, 'longRate', options.longRate ?? 0.01, { min: 0, max: 1 });
  const gain = check.number(name, 'gain', options.gain ?? 5, { min: 0, minExclusive: true });
  const window = check.integer(name, 'calmWindow', options.calmWindow ?? 32);
  const meanBelow = check.number(name, 'calmMeanBelow', options.calmMeanBelow ?? 0.05, { min: 0 });
  const varianceBelow = check.number(name, 'calmVarianceBelow', options.calmVarianceBelow ?? 0.005, { min: 0 });

  // The math, once: the composed update below is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state, _params, context) {
      const s = state as Readonly<Record<keyof EmotionState, LeafRef>>;
      const loss = context.loss(name);
      const count = fx.step(s.count);
      const first = fx.eq(count, 0);
      const short = fx.select(first, loss, fx.add(fx.mul(loss, shortRate), fx.mul(fx.step(s.short), 1 - shortRate)));
      const long = fx.select(first, loss, fx.add(fx.mul(loss, longRate), fx.mul(fx.step(s.long), 1 - longRate)));
      const scalar = fx.tanh(fx.mul(fx.sub(short, long), gain));
      const history = fx.shiftIn(s.history, scalar);
      const next = fx.add(count, 1);
      const calm = fx.and(fx.ge(next, window), calmOf(history, window, meanBelow, varianceBelow));
      context.publish('emotion', scalar, name);
      context.publish('calm', calm, name, 'bool');
      return { updates, state: { count: next, short, long, scalar, history, calm } };
    },
  };

  return {
    name,
    init: (_params: Params) => ({
      count: tf.scalar(0),
      short: tf.scalar(0),
      long: tf.scalar(0),
      scalar: tf.scalar(0),
      history: tf.zeros([window]) as tf.Tensor1D,
      calm: tf.scalar(false, 'bool'),
    }),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
