import { check, describeValue, EmosensError } from '@emosens/core';
import type { Schedule } from '@emosens/modifiers';

/**
 * A learning rate: a number, or a schedule `step => lr` of the step count (0 on the first
 * step), e.g. `warmupCosineDecaySchedule(...)` of @emosens/modifiers, given to
 * `scaleByLearningRate` at the end of the chain (weight decay of the optimizer scales with it,
 * as torch's schedulers scale the whole step).
 */
export type LearningRate = number | Schedule;

/** Validates a learning rate option: a function (a schedule) or a finite number >= 0. */
export function checkLearningRate(optimizer: string, value: unknown, fallback: number): LearningRate {
  if (typeof value === 'function') return value as Schedule;
  return check.number(optimizer, 'lr', value ?? fallback, { min: 0 });
}

/** Options shared by the optimizers. Missing keys take the reference defaults. */
export interface OptimizerOptions {
  /** Learning rate. Default 1e-3. */
  readonly lr?: number;
  /** `[beta1, beta2]`. Default `[0.9, 0.999]` (EmoCats `[0.9, 0.99]`). */
  readonly betas?: readonly [number, number];
  /** Default 1e-8. */
  readonly eps?: number;
  /** Decoupled weight decay. Default 0.01 (Adam: 0). */
  readonly weightDecay?: number;
}

/** Options of {@link adam} and {@link adamw}, torch's `Adam` / `AdamW` arguments in camelCase. */
export interface AdamOptions extends Omit<OptimizerOptions, 'lr'> {
  /** Learning rate, or a schedule of the step count (0 on the first step). Default 1e-3. */
  readonly lr?: LearningRate;
  /** torch's `amsgrad`: divide by the root of the running maximum of the second moment. Default false. */
  readonly amsgrad?: boolean;
}

/** Options of the Emo optimizers. */
export interface EmoOptions extends OptimizerOptions {
  /** Turn the shadow system on. Default false. */
  readonly useShadow?: boolean;
}

/** Options of {@link emoCats}. */
export interface EmoCatsOptions extends EmoOptions {
  /**
   * Divide the weight decay by the initial learning rate, so the per-step decay is
   * `p *= 1 - wd` rather than `p *= 1 - lr * wd`. Default false.
   */
  readonly decoupledWeightDecay?: boolean;
}

/** Validated options with defaults applied. */
export type ResolvedOptions = {
  readonly lr: number;
  readonly b1: number;
  readonly b2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly useShadow: boolean;
};

/** The options every Emo v2 optimizer takes; `extra` names an optimizer's own (emoCats: `decoupledWeightDecay`). */
const EMO_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'useShadow'] as const;

/**
 * Applies defaults and validates, naming the optimizer and option on error. Only the Emo
 * options and the optimizer's `extra` ones are accepted (checked by {@link checkOptionKeys}).
 */
export function resolveOptions(
  optimizer: string,
  options: EmoCatsOptions,
  defaults: { betas: readonly [number, number]; weightDecay: number },
  extra: readonly string[] = [],
): ResolvedOptions {
  checkOptionKeys(optimizer, options, [...EMO_KEYS, ...extra]);
  const lr = check.number(optimizer, 'lr', options.lr ?? 1e-3, { min: 0 });
  const [b1, b2] = check.betas(optimizer, 'betas', options.betas ?? defaults.betas);
  const eps = check.divisorEps(optimizer, 'eps', options.eps ?? 1e-8);
  const weightDecay = check.number(optimizer, 'weightDecay', options.weightDecay ?? defaults.weightDecay, { min: 0 });
  const useShadow = check.boolean(optimizer, 'useShadow', options.useShadow ?? false);
  return { lr, b1, b2, eps, weightDecay, useShadow };
}

/** Options of {@link sgd}, torch's `SGD` arguments in camelCase. */
export interface SgdOptions {
  /** Learning rate. Default 1e-3 (torch requires it). */
  readonly lr?: LearningRate;
  /** Momentum factor, >= 0. Default 0 (no momentum buffer). */
  readonly momentum?: number;
  /** Dampening of the momentum, in [0, 1]. Default 0. */
  readonly dampening?: number;
  /** Nesterov momentum; needs `momentum > 0` and `dampening = 0`. Default false. */
  readonly nesterov?: boolean;
  /** L2 penalty, added to the gradient. Default 0. */
  readonly weightDecay?: number;
}

/** Options of {@link rmsprop}, torch's `RMSprop` arguments in camelCase. */
export interface RmspropOptions {
  /** Learning rate. Default 1e-2. */
  readonly lr?: LearningRate;
  /** Smoothing constant of the squared-gradient average, in [0, 1]. Default 0.99. */
  readonly alpha?: number;
  /** Added to the denominator. Default 1e-8. */
  readonly eps?: number;
  /** L2 penalty, added to the gradient. Default 0. */
  readonly weightDecay?: number;
  /** Momentum factor, >= 0. Default 0. */
  readonly momentum?: number;
  /** Normalise by the estimated variance instead of the raw second moment. Default false. */
  readonly centered?: boolean;
}

/** Options of {@link adagrad}, torch's `Adagrad` arguments in camelCase (no `lr_decay`). */
export interface AdagradOptions {
  /** Learning rate. Default 1e-2. */
  readonly lr?: LearningRate;
  /** L2 penalty, added to the gradient. Default 0. */
  readonly weightDecay?: number;
  /** Initial value of the sum of squares, >= 0. Default 0. */
  readonly initialAccumulatorValue?: number;
  /** Added to the denominator. Default 1e-10. */
  readonly eps?: number;
}

/** Options of {@link adamax}, torch's `Adamax` arguments in camelCase. */
export interface AdamaxOptions {
  /** Learning rate. Default 2e-3. */
  readonly lr?: LearningRate;
  /** `[beta1, beta2]`. Default `[0.9, 0.999]`. */
  readonly betas?: readonly [number, number];
  /** Added to `|g|` before the maximum. Default 1e-8. */
  readonly eps?: number;
  /** L2 penalty, added to the gradient. Default 0. */
  readonly weightDecay?: number;
}

/** Options of {@link nadam}. */
export interface NadamOptions {
  /** Learning rate. Default 2e-3. */
  readonly lr?: LearningRate;
  /** `[beta1, beta2]`. Default `[0.9, 0.999]`. */
  readonly betas?: readonly [number, number];
  /** Added to the root of the bias-corrected second moment. Default 1e-8. */
  readonly eps?: number;
  /** L2 penalty, added to the gradient. Default 0. */
  readonly weightDecay?: number;
  /** Momentum decay `psi` of the momentum schedule. Default 4e-3. */
  readonly momentumDecay?: number;
}

/** Options of {@link radam}. */
export interface RadamOptions {
  /** Learning rate. Default 1e-3. */
  readonly lr?: LearningRate;
  /** `[beta1, beta2]`. Default `[0.9, 0.999]`. */
  readonly betas?: readonly [number, number];
  /** Added to the root of the bias-corrected second moment. Default 1e-8. */
  readonly eps?: number;
  /** L2 penalty, added to the gradient. Default 0. */
  readonly weightDecay?: number;
}

/** Options of {@link lion}. */
export interface LionOptions {
  /** Learning rate. Default 1e-4. */
  readonly lr?: LearningRate;
  /** `[beta1, beta2]`: beta1 interpolates the direction, beta2 decays the moment. Default `[0.9, 0.99]`. */
  readonly betas?: readonly [number, number];
  /** Decoupled weight decay: `p *= 1 - lr * wd` each step. Default 0. */
  readonly weightDecay?: number;
}

/**
 * Checks that `options` is a plain object holding only `known` keys, naming the
 * optimizer and the offending option on error.
 */
export function checkOptionKeys(optimizer: string, options: unknown, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new EmosensError('INVALID_OPTION', `${optimizer}: options must be an object, got ${describeValue(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new EmosensError('INVALID_OPTION', `${optimizer}: unknown option '${key}'; known options: ${known.join(', ')}.`);
    }
  }
}

/** Options of {@link adafactor}: optax's `adafactor` arguments in camelCase (`learning_rate` is `lr`, as everywhere here). */
export interface AdafactorOptions {
  /**
   * Learning rate (a number or a schedule). Default none, as optax: the updates are not scaled
   * by a learning rate, and the parameter scale (`multiplyByParameterScale`) sets the step size.
   */
  readonly lr?: LearningRate;
  /** Factor the second moment only when both sides of a matrix (and optax's two largest axes) are at least this long, an integer >= 1. Default 128. */
  readonly minDimSizeToFactor?: number;
  /** Exponent of the second moment's decay schedule `1 - (t + 1)^(-decayRate)`. Default 0.8. */
  readonly decayRate?: number;
  /** Step at which that schedule starts (for fine-tuning a restored state; before it the decay is 0), an integer >= 0. Default 0. */
  readonly decayOffset?: number;
  /** Multiply the updates by each parameter's root mean square, at least 1e-3. Default true. */
  readonly multiplyByParameterScale?: boolean;
  /** Clip each parameter's update to this root mean square; `null` turns clipping off. Default 1. */
  readonly clippingThreshold?: number | null;
  /** Decay of an exponential moving average of the updates (not debiased); `null` or absent: none. Default none. */
  readonly momentum?: number | null;
  /** Weight decay added after the learning rate (`u + wd * p`, not scaled by it, as optax); `null` or absent: none. Default none. */
  readonly weightDecayRate?: number | null;
  /** Added to the squared gradient. Default 1e-30. */
  readonly eps?: number;
  /** Use factored second moments at all. Default true. */
  readonly factored?: boolean;
}

/** Options of {@link lamb}: optax's `lamb` arguments in camelCase (`learning_rate` is `lr`). */
export interface LambOptions {
  /** Learning rate (a number or a schedule). Default 1e-3 (optax requires it). */
  readonly lr?: LearningRate;
  /** Decay of the first moment. Default 0.9. */
  readonly b1?: number;
  /** Decay of the second moment. Default 0.999. */
  readonly b2?: number;
  /** Added to the root of the second moment. Default 1e-6. */
  readonly eps?: number;
  /** Added to the second moment inside the root. Default 0. */
  readonly epsRoot?: number;
  /** Decoupled weight decay, added before the trust ratio. Default 0. */
  readonly weightDecay?: number;
}
