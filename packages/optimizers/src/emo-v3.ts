import { chain, check, partition, type GradientTransformation, type StateValue } from '@emosens/core';
import { emoPulse, trackEmotionV3 } from '@emosens/emotion';
import { addDecayedWeights, scaleByLearningRate, scaleBySign, withPreviousNormRescale } from '@emosens/modifiers';
import { scaleByAdam, scaleByFactoredRms, scaleByFreshnessMoment, scaleByLionMoment, scaleByRms } from '@emosens/moments';
import { withShadow } from '@emosens/shadow';
import { checkOptionKeys } from './options.js';

/** Options of the Emo family's v3.9 optimizers ({@link emoSensV3}, {@link emoAiryV3}, {@link emoCatsV3}). */
export interface EmoV3Options {
  /**
   * Scales the emoPulse step size ("emoScope"): the step is derived from the loss history each
   * step, and `lr` only scales it (and its cap `3e-3 lr`). Default 1.0, the reference's advice.
   */
  readonly lr?: number;
  /** `[beta1, beta2]`. Default `[0.9, 0.995]`. */
  readonly betas?: readonly [number, number];
  /** Default 1e-8. */
  readonly eps?: number;
  /** Decoupled weight decay, scaled by the step size: `p *= 1 - wd * pulse`. Default 0.01. */
  readonly weightDecay?: number;
  /** The stop rule's bound on the medium loss average (`calm` turns on at or below it). Default 0.04. */
  readonly stopcoef?: number;
  /** Turn the v3 shadow system on. Default false. */
  readonly useShadow?: boolean;
}

/** Options of {@link emoTion}: no weight decay and no eps (the reference uses neither). */
export type EmoTionOptions = Omit<EmoV3Options, 'weightDecay' | 'eps'>;

/** Options of {@link emoVoid}: no moments, no weight decay, no eps (the reference uses none of them). */
export type EmoVoidOptions = Omit<EmoV3Options, 'weightDecay' | 'betas' | 'eps'>;

interface Resolved {
  readonly lr: number;
  readonly b1: number;
  readonly b2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly stopcoef: number;
  readonly useShadow: boolean;
}

function resolve(name: string, options: EmoV3Options, known: readonly string[]): Resolved {
  checkOptionKeys(name, options, known);
  const lr = check.number(name, 'lr', options.lr ?? 1, { min: 0, minExclusive: true });
  const [b1, b2] = check.betas(name, 'betas', options.betas ?? [0.9, 0.995]);
  const eps = check.divisorEps(name, 'eps', options.eps ?? 1e-8);
  const weightDecay = check.number(name, 'weightDecay', options.weightDecay ?? 0.01, { min: 0 });
  const stopcoef = check.number(name, 'stopcoef', options.stopcoef ?? 0.04, { min: 0 });
  const useShadow = check.boolean(name, 'useShadow', options.useShadow ?? false);
  return { lr, b1, b2, eps, weightDecay, stopcoef, useShadow };
}

const ALL = ['lr', 'betas', 'eps', 'weightDecay', 'stopcoef', 'useShadow'] as const;

/**
 * The shape shared by the v3.9 optimizers:
 *
 * ```
 * chain(
 *   emotion: trackEmotionV3(),                 three loss averages -> scalar s, trust (float64, host)
 *   pulse:   emoPulse({ lr, stopcoef }),       the step size and the stop signal `calm`
 *   step:    [withShadow(rule 'v3')](chain(    blends toward the shadow first, when on
 *     direction,
 *     [addDecayedWeights(wd)],                 + wd * p
 *     scaleByLearningRate({ fromValue: 'stepSize' }))))   * -pulse
 * ```
 */
function v3Chain(direction: GradientTransformation<StateValue>, o: Resolved, decay: boolean): GradientTransformation<StateValue> {
  const step = chain({
    direction,
    ...(decay ? { decay: addDecayedWeights(o.weightDecay) } : {}),
    lr: scaleByLearningRate({ fromValue: 'stepSize' }),
  }) as GradientTransformation<StateValue>;
  return chain({
    emotion: trackEmotionV3(),
    pulse: emoPulse({ lr: o.lr, stopcoef: o.stopcoef }),
    step: o.useShadow ? (withShadow(step, { rule: 'v3' }) as GradientTransformation<StateValue>) : step,
  }) as GradientTransformation<StateValue>;
}

/**
 * EmoSens v3.9.1: Adam moments without bias correction, stepped by emoPulse.
 *
 * ```
 * m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 * p *= 1 - wd * pulse;  p -= pulse * m / (sqrt(v) + eps)
 * ```
 *
 * Needs the loss every step as a number (a tensor loss is read once per step: the scalar
 * rule runs in float64 on the host, as the reference). Defaults: lr 1.0, betas (0.9, 0.995),
 * eps 1e-8, weightDecay 0.01, stopcoef 0.04, shadow off.
 */
export function emoSensV3(options: EmoV3Options = {}): GradientTransformation<StateValue> {
  const o = resolve('emoSensV3', options, ALL);
  return v3Chain(scaleByAdam({ b1: o.b1, b2: o.b2, eps: o.eps, biasCorrection: false }) as GradientTransformation<StateValue>, o, o.weightDecay !== 0);
}

/**
 * EmoAiry v3.9.1: factored row/column second moments (decayed with beta2, averaging
 * `mean(g^2)`) for tensors of rank >= 2, a full second moment for vectors; the direction is
 * the sign of the normalised gradient, stepped by emoPulse.
 *
 * ```
 * rank >= 2: R = b2 R + (1-b2) mean(g^2 over axes 1..n);  C likewise over axis 0;  u = sign(g / (sqrt(R C) + eps))
 * rank < 2:  v = b2 v + (1-b2) g^2;  u = sign(g / (sqrt(v) + eps))
 * p *= 1 - wd * pulse;  p -= pulse * u
 * ```
 *
 * Defaults as {@link emoSensV3}.
 */
export function emoAiryV3(options: EmoV3Options = {}): GradientTransformation<StateValue> {
  const o = resolve('emoAiryV3', options, ALL);
  const direction = chain({
    moments: partition(
      {
        factored: scaleByFactoredRms({ decay: o.b2, eps: o.eps, average: 'square' }),
        dense: scaleByRms({ alpha: o.b2, eps: o.eps }),
      },
      (_name, p) => (p.rank >= 2 ? 'factored' : 'dense'),
    ),
    sign: scaleBySign(),
  });
  // the reference decays unconditionally; with wd = 0 that is the identity
  return v3Chain(direction as GradientTransformation<StateValue>, o, true);
}

/**
 * EmoCats v3.9.1: Lion's signed interpolated moment, stepped by emoPulse.
 *
 * ```
 * p *= 1 - wd * pulse;  p -= pulse * sign((1-b1) g + b1 m);  m = b2 m + (1-b2) g
 * ```
 *
 * Defaults as {@link emoSensV3}.
 */
export function emoCatsV3(options: EmoV3Options = {}): GradientTransformation<StateValue> {
  const o = resolve('emoCatsV3', options, ALL);
  const direction = chain({ moment: scaleByLionMoment({ b1: o.b1, b2: o.b2 }), sign: scaleBySign() });
  return v3Chain(direction as GradientTransformation<StateValue>, o, o.weightDecay !== 0);
}

/**
 * EmoTion v3.9.1: a first moment whose mixing rate follows the freshness of the weights (the
 * change of their global L1 norm), stepped by emoPulse along its sign; no weight decay.
 *
 * ```
 * L = sum_p |p|_1;  fresh = max(tanh(|L - prev| / (prev + 1e-8) / 0.03), 1 - b1)   (1 on the first step)
 * a = (1-b1) fresh;  m = (1-a) m + a g;  p -= pulse * sign(m)
 * ```
 *
 * Defaults: lr 1.0, betas (0.9, 0.995) (only beta1 is used), stopcoef 0.04, shadow off.
 */
export function emoTion(options: EmoTionOptions = {}): GradientTransformation<StateValue> {
  const o = resolve('emoTion', options, ['lr', 'betas', 'stopcoef', 'useShadow']);
  const direction = chain({ moment: scaleByFreshnessMoment({ b1: o.b1 }), sign: scaleBySign() });
  return v3Chain(direction as GradientTransformation<StateValue>, o, false);
}

/**
 * EmoVoid v3.9.1: the sign of the gradient stepped by emoPulse, with every parameter rescaled
 * for the first 55 steps so the global L1 norm of the weights keeps its previous value (the
 * count restarts at 55 when the stop signal turns on); no moments, no weight decay.
 *
 * ```
 * while n <= 55: p *= prev / (L + 1e-8)        L = sum_p |p|_1
 * p -= pulse * sign(g)
 * ```
 *
 * Defaults: lr 1.0, stopcoef 0.04, shadow off.
 */
export function emoVoid(options: EmoVoidOptions = {}): GradientTransformation<StateValue> {
  const o = resolve('emoVoid', options, ['lr', 'stopcoef', 'useShadow']);
  const step = chain({ sign: scaleBySign(), lr: scaleByLearningRate({ fromValue: 'stepSize' }) }) as GradientTransformation<StateValue>;
  return chain({
    emotion: trackEmotionV3(),
    pulse: emoPulse({ lr: o.lr, stopcoef: o.stopcoef }),
    step: withPreviousNormRescale(o.useShadow ? (withShadow(step, { rule: 'v3' }) as GradientTransformation<StateValue>) : step),
  }) as GradientTransformation<StateValue>;
}
