import * as tf from '@tensorflow/tfjs-core';
import { check, composedUpdate, fx, type FusionForm, type GradientTransformation, type Params } from '@emosens/core';
import type {} from './track-emotion.js';

declare module '@emosens/core' {
  interface Signals {
    /** The step size of this step chosen by `emoPulse` (the reference's `emoPulse`). Float32 scalar. */
    stepSize: tf.Scalar;
  }
}

/** Options of {@link emoPulse}. Defaults are the reference's. */
export interface EmoPulseOptions {
  /** Scales the step size and its cap (the reference's `lr`, its "emoScope"). Default 1. */
  readonly lr?: number;
  /** The stop rule needs `max(medium, 1e-5) <= stopcoef` (the medium loss average). Default 0.04. */
  readonly stopcoef?: number;
}

/** State of {@link emoPulse}: host numbers (float64), as the reference keeps them. */
export type EmoPulseState = {
  /** Average of `|s|` (the reference's `noise_est`), from 1. */
  readonly noise: number;
  /** Average of `|trust|` (`d_est`), from 0.02. */
  readonly d: number;
  /** Average of `s` (`c_est`), from 0. */
  readonly c: number;
  /** The step's signal-to-noise factor (`dNR_hist`), from 1. */
  readonly dNR: number;
};

/** What one step of {@link emoPulse} computes. */
export interface EmoPulseValues {
  readonly state: EmoPulseState;
  /** The step size. */
  readonly pulse: number;
  /** The stop rule after this step. */
  readonly shouldStop: boolean;
}

/**
 * One step of emoPulse on host numbers (float64), in the reference's order of operations
 * (`EmoSens.step` of muooon/EmoSens v3.9.1, between "Start emoPulse" and "End emoPulse",
 * and its stop rule).
 */
export function emoPulseStep(
  state: EmoPulseState,
  scalar: number,
  trust: number,
  medium: number,
  lr: number,
  stopcoef: number,
): EmoPulseValues {
  const noiseEst = 0.97 * state.noise + 0.03 * Math.abs(scalar);
  const d = 0.97 * state.d + 0.03 * Math.abs(trust);
  const c = 0.7 * state.c + 0.3 * scalar;
  const noise = Math.max(noiseEst, 1e-10);
  const noiseBase = Math.abs(scalar - trust) + 0.1;
  const dBase = Math.abs(noise - d) + 0.1;
  const now = (dBase / noiseBase) ** 2;
  let dNR = state.dNR;
  if (now >= dNR && trust >= 0.5) dNR = Math.min(now, dNR * 1.5);
  else if (-0.5 <= trust && trust <= 0.5) dNR = now * 0.8;
  const emoChain = lr * Math.max(100 ** c, 1e-2);
  const pulse = Math.max(Math.min(dNR * (emoChain * 1e-4), lr * 3e-3), 1e-8);
  // the stop rule reads the averages before max(noise, 1e-10)
  const shouldStop = d - noiseEst >= 0.3 && medium <= stopcoef;
  return { state: { noise: noiseEst, d, c, dNR }, pulse, shouldStop };
}

/**
 * The emoPulse step size of the Emo family's v3.9.1 generation: a step size derived from
 * the emotion history each step, in float64 on the host, with a stop rule. Reads the host
 * values `emotion`, `trust` and `emotionMedium` that {@link trackEmotionV3} publishes.
 * Updates pass through unchanged; `scaleByLearningRate({ fromValue: 'stepSize' })` applies it.
 *
 * ```
 * noise = 0.97 noise + 0.03 |s|          (from 1)
 * d     = 0.97 d + 0.03 |trust|          (from 0.02)
 * c     = 0.7 c + 0.3 s                  (from 0)
 * now   = ((|max(noise, 1e-10) - d| + 0.1) / (|s - trust| + 0.1))^2
 * dNR   = min(now, 1.5 dNR)   if now >= dNR and trust >= 0.5
 *         0.8 now             else if -0.5 <= trust <= 0.5
 *         dNR                 otherwise                        (from 1)
 * pulse = max(min(dNR * (lr * max(100^c, 0.01) * 1e-4), lr * 3e-3), 1e-8)
 * stop  = d - noise >= 0.3  and  max(medium, 1e-5) <= stopcoef
 * ```
 *
 * Publishes the host values `stepSize` (pulse) and `shouldStop` (1 or 0), and the device
 * signals `stepSize` (float32 scalar) and `calm` (bool scalar: the stop rule, the signal
 * {@link trackEmotion} publishes for v2).
 *
 * Options: `lr` (default 1) scales the step size and its cap; `stopcoef` (default 0.04).
 *
 * When the emotion values are NaN (a non-finite loss, see {@link trackEmotionV3}), the
 * state stays unchanged, `stepSize` is NaN and `shouldStop` 0: the step engine's
 * non-finite guard skips such a step.
 *
 * From muooon/EmoSens v3.9.1 (`optimizer/emosens.py`; the same in emoairy, emocats,
 * emotion and emovoid). The reference also prints a notice when it should stop; this
 * block only publishes the flag.
 *
 * ```ts
 * const tx = chain(trackEmotionV3(), emoPulse({ lr: 0.1 }), scaleByLearningRate({ fromValue: 'stepSize' }));
 * ```
 */
export function emoPulse(options: EmoPulseOptions = {}): GradientTransformation<EmoPulseState> {
  const name = 'emoPulse';
  const lr = check.number(name, 'lr', options.lr ?? 1, { min: 0, minExclusive: true });
  const stopcoef = check.number(name, 'stopcoef', options.stopcoef ?? 0.04, { min: 0 });
  // The math, once, on host numbers; the composed update is derived from the form.
  const fusion: FusionForm = {
    update(updates, state, _params, context) {
      const previous = state as EmoPulseState;
      const scalar = context.readValue('emotion', name);
      const trust = context.readValue('trust', name);
      const medium = context.readValue('emotionMedium', name);
      const finite = Number.isFinite(scalar) && Number.isFinite(trust) && Number.isFinite(medium);
      const next = finite ? emoPulseStep(previous, scalar, trust, medium, lr, stopcoef) : { state: previous, pulse: NaN, shouldStop: false };
      context.publishValue('stepSize', next.pulse, name);
      context.publishValue('shouldStop', next.shouldStop ? 1 : 0, name);
      context.publish('stepSize', fx.uniform(next.pulse), name);
      context.publish('calm', fx.uniform(next.shouldStop ? 1 : 0), name, 'bool');
      return { updates, state: next.state };
    },
  };
  return {
    name,
    init: (_params: Params) => ({ noise: 1, d: 0.02, c: 0, dNR: 1 }),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
