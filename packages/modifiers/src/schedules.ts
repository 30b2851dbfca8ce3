import { check, EmosensError } from '@emosens/core';
import type { Schedule } from './learning-rate.js';

// Schedules as in optax (same names, same formulas), evaluated on the host with the step
// count of `scaleByLearningRate` (0 on the first step). The step-t value is the value a
// torch lr_scheduler gives after t scheduler steps, for the equivalent torch scheduler.
// Options are validated when the schedule is made, so a schedule never returns NaN.

/** Options of {@link polynomialSchedule}. */
export interface PolynomialScheduleOptions {
  /** The value before and at `transitionBegin`. */
  readonly initValue: number;
  /** The value from `transitionBegin + transitionSteps` on. */
  readonly endValue: number;
  /** The exponent of the decay, >= 0 (1 is linear). */
  readonly power: number;
  /** How many steps the transition lasts, an integer >= 1. */
  readonly transitionSteps: number;
  /** How many steps the value stays at `initValue` first, an integer >= 0. Default 0. */
  readonly transitionBegin?: number;
}

/** Options of {@link linearSchedule}: a {@link PolynomialScheduleOptions} of power 1. */
export type LinearScheduleOptions = Omit<PolynomialScheduleOptions, 'power'>;

/** Options of {@link exponentialDecay}. */
export interface ExponentialDecayOptions {
  /** The value at step 0 (and before `transitionBegin`). */
  readonly initValue: number;
  /** Steps per factor of `decayRate`, an integer >= 1. */
  readonly transitionSteps: number;
  /** The factor per `transitionSteps` steps, > 0 (< 1 decays, > 1 grows). */
  readonly decayRate: number;
  /** How many steps the value stays at `initValue` first, an integer >= 0. Default 0. */
  readonly transitionBegin?: number;
  /** Decay in whole factors only (`floor`), as torch's StepLR. Default false. */
  readonly staircase?: boolean;
  /** A bound the value does not pass: a floor when `decayRate < 1`, a ceiling when `> 1`. */
  readonly endValue?: number;
}

/** Options of {@link cosineDecaySchedule}. */
export interface CosineDecayScheduleOptions {
  /** The value at step 0. */
  readonly initValue: number;
  /** The steps the decay lasts, an integer >= 1; the value stays at `alpha * initValue` after. */
  readonly decaySteps: number;
  /** The final value as a fraction of `initValue`, in [0, 1]. Default 0. */
  readonly alpha?: number;
}

/** Options of {@link warmupCosineDecaySchedule}. */
export interface WarmupCosineDecayScheduleOptions {
  /** The value at step 0. */
  readonly initValue: number;
  /** The value reached at the end of the warm-up. */
  readonly peakValue: number;
  /** The steps of the linear warm-up, an integer >= 0. */
  readonly warmupSteps: number;
  /** The total steps, warm-up included, an integer > `warmupSteps`. */
  readonly decaySteps: number;
  /** The value from `decaySteps` on. Default 0. */
  readonly endValue?: number;
}

const finite = (block: string, option: string, value: unknown): number => check.number(block, option, value);

/** Always `value`. */
export function constantSchedule(value: number): Schedule {
  const v = finite('constantSchedule', 'value', value);
  return () => v;
}

function polynomial(init: number, end: number, power: number, steps: number, begin: number): Schedule {
  return (step) => {
    const count = Math.min(Math.max(step - begin, 0), steps);
    return (init - end) * (1 - count / steps) ** power + end;
  };
}

/**
 * From `initValue` to `endValue` along a power curve (optax `polynomial_schedule`, torch
 * `PolynomialLR` with `endValue` 0):
 *
 * ```
 * c = clamp(step - transitionBegin, 0, transitionSteps)
 * value = (initValue - endValue) * (1 - c / transitionSteps)^power + endValue
 * ```
 */
export function polynomialSchedule(options: PolynomialScheduleOptions): Schedule {
  const name = 'polynomialSchedule';
  return polynomial(
    finite(name, 'initValue', options.initValue),
    finite(name, 'endValue', options.endValue),
    check.number(name, 'power', options.power, { min: 0 }),
    check.integer(name, 'transitionSteps', options.transitionSteps, 1),
    check.integer(name, 'transitionBegin', options.transitionBegin ?? 0, 0),
  );
}

/**
 * From `initValue` to `endValue` in a straight line over `transitionSteps` steps, starting
 * at `transitionBegin` (optax `linear_schedule`, torch `LinearLR` as factors of a base):
 * {@link polynomialSchedule} with power 1.
 */
export function linearSchedule(options: LinearScheduleOptions): Schedule {
  const name = 'linearSchedule';
  return polynomial(
    finite(name, 'initValue', options.initValue),
    finite(name, 'endValue', options.endValue),
    1,
    check.integer(name, 'transitionSteps', options.transitionSteps, 1),
    check.integer(name, 'transitionBegin', options.transitionBegin ?? 0, 0),
  );
}

/**
 * Exponential decay (optax `exponential_decay`; torch `ExponentialLR` with
 * `transitionSteps` 1, `StepLR` with `staircase`):
 *
 * ```
 * c = step - transitionBegin,   p = c / transitionSteps (floored with `staircase`)
 * value = c <= 0 ? initValue : initValue * decayRate^p, then bounded by `endValue`
 * ```
 */
export function exponentialDecay(options: ExponentialDecayOptions): Schedule {
  const name = 'exponentialDecay';
  const init = finite(name, 'initValue', options.initValue);
  const steps = check.integer(name, 'transitionSteps', options.transitionSteps, 1);
  const rate = check.number(name, 'decayRate', options.decayRate, { min: 0, minExclusive: true });
  const begin = check.integer(name, 'transitionBegin', options.transitionBegin ?? 0, 0);
  const staircase = check.boolean(name, 'staircase', options.staircase ?? false);
  const end = options.endValue === undefined ? undefined : finite(name, 'endValue', options.endValue);
  return (step) => {
    const count = step - begin;
    const p = staircase ? Math.floor(count / steps) : count / steps;
    const value = count <= 0 || init === 0 ? init : init * rate ** p; // 0 stays 0 (never 0 * inf)
    if (end === undefined) return value;
    return rate < 1 ? Math.max(value, end) : Math.min(value, end);
  };
}

function cosine(init: number, steps: number, alpha: number): Schedule {
  return (step) => {
    const count = Math.min(Math.max(step, 0), steps);
    const decay = 0.5 * (1 + Math.cos((Math.PI * count) / steps));
    return init * ((1 - alpha) * decay + alpha);
  };
}

/**
 * Cosine decay from `initValue` to `alpha * initValue` over `decaySteps` steps, then
 * constant (optax `cosine_decay_schedule`, torch `CosineAnnealingLR` with
 * `eta_min = alpha * initValue` and `T_max = decaySteps`, up to `T_max`):
 *
 * ```
 * c = min(step, decaySteps)
 * value = initValue * ((1 - alpha) * 0.5 * (1 + cos(pi * c / decaySteps)) + alpha)
 * ```
 */
export function cosineDecaySchedule(options: CosineDecayScheduleOptions): Schedule {
  const name = 'cosineDecaySchedule';
  return cosine(
    finite(name, 'initValue', options.initValue),
    check.integer(name, 'decaySteps', options.decaySteps, 1),
    check.number(name, 'alpha', options.alpha ?? 0, { min: 0, max: 1 }),
  );
}

/**
 * A linear warm-up from `initValue` to `peakValue` over `warmupSteps` steps, then a cosine
 * decay to `endValue` at step `decaySteps` (optax `warmup_cosine_decay_schedule`):
 *
 * ```
 * step < warmupSteps:  initValue + (peakValue - initValue) * step / warmupSteps
 * otherwise:           c = min(step - warmupSteps, decaySteps - warmupSteps),
 *                      endValue + (peakValue - endValue) * 0.5 * (1 + cos(pi * c / (decaySteps - warmupSteps)))
 * ```
 */
export function warmupCosineDecaySchedule(options: WarmupCosineDecayScheduleOptions): Schedule {
  const name = 'warmupCosineDecaySchedule';
  const init = finite(name, 'initValue', options.initValue);
  const peak = finite(name, 'peakValue', options.peakValue);
  const warmup = check.integer(name, 'warmupSteps', options.warmupSteps, 0);
  const total = check.integer(name, 'decaySteps', options.decaySteps, warmup + 1);
  const end = finite(name, 'endValue', options.endValue ?? 0);
  // optax: alpha = end / peak (0 for a peak of 0), the cosine part scaled by peak
  const alpha = peak === 0 ? 0 : end / peak;
  const decay = cosine(peak, total - warmup, alpha);
  if (warmup === 0) return decay;
  return join([polynomial(init, peak, 1, warmup, 0), decay], [warmup]);
}

function join(schedules: readonly Schedule[], boundaries: readonly number[]): Schedule {
  return (step) => {
    let i = 0;
    while (i < boundaries.length && step >= boundaries[i]!) i++;
    return schedules[i]!(i === 0 ? step : step - boundaries[i - 1]!);
  };
}

/**
 * Runs `schedules[0]` until `boundaries[0]`, then `schedules[1]` from its own step 0, and
 * so on (optax `join_schedules`, torch `SequentialLR` with `milestones = boundaries`):
 *
 * ```
 * i = the number of boundaries <= step
 * value = schedules[i](step - boundaries[i - 1])   (schedules[0](step) for i = 0)
 * ```
 *
 * `boundaries` are integers >= 0 in increasing order, one fewer than `schedules`.
 */
export function joinSchedules(schedules: readonly Schedule[], boundaries: readonly number[]): Schedule {
  const name = 'joinSchedules';
  if (!Array.isArray(schedules) || schedules.length === 0 || schedules.some((s) => typeof s !== 'function')) {
    throw new EmosensError('INVALID_OPTION', `${name}: option 'schedules' must be a non-empty array of schedules (step => value).`);
  }
  if (!Array.isArray(boundaries) || boundaries.length !== schedules.length - 1) {
    throw new EmosensError(
      'INVALID_OPTION',
      `${name}: option 'boundaries' must hold one boundary fewer than 'schedules' (${schedules.length - 1}), got ${Array.isArray(boundaries) ? boundaries.length : String(boundaries)}.`,
    );
  }
  boundaries.forEach((b, i) => {
    check.integer(name, `boundaries[${i}]`, b, i === 0 ? 0 : boundaries[i - 1]! + 1);
  });
  return join([...schedules], [...boundaries]);
}

/**
 * `initValue`, multiplied by `scale` from each `boundary` on (optax
 * `piecewise_constant_schedule`, torch `MultiStepLR` with a scale `gamma` per milestone):
 *
 * ```
 * value = initValue * product of the scales whose boundary <= step
 * ```
 *
 * `boundariesAndScales` maps integer steps >= 0 to scales >= 0, e.g. `{ 100: 0.1, 200: 0.1 }`.
 */
export function piecewiseConstantSchedule(initValue: number, boundariesAndScales: Readonly<Record<number, number>> = {}): Schedule {
  const name = 'piecewiseConstantSchedule';
  const init = finite(name, 'initValue', initValue);
  if (typeof boundariesAndScales !== 'object' || boundariesAndScales === null || Array.isArray(boundariesAndScales)) {
    throw new EmosensError('INVALID_OPTION', `${name}: option 'boundariesAndScales' must be an object { step: scale }, got ${String(boundariesAndScales)}.`);
  }
  const pairs = Object.entries(boundariesAndScales).map(([key, scale]) => {
    const boundary = /^\d+$/.test(key) ? Number(key) : NaN;
    if (!Number.isSafeInteger(boundary)) {
      throw new EmosensError('INVALID_OPTION', `${name}: option 'boundariesAndScales' must have integer steps >= 0 as keys, got '${key}'.`);
    }
    return [boundary, check.number(name, `boundariesAndScales[${key}]`, scale, { min: 0 })] as const;
  });
  pairs.sort((a, b) => a[0] - b[0]);
  return (step) => {
    let value = init;
    for (const [boundary, scale] of pairs) if (step >= boundary) value *= scale;
    return value;
  };
}

/** Options of {@link stepDecaySchedule}. */
export interface StepDecayScheduleOptions {
  /** The value at step 0. */
  readonly initValue: number;
  /** Steps per factor of `gamma`, an integer >= 1 (torch `step_size`). */
  readonly stepSize: number;
  /** The factor every `stepSize` steps, >= 0. Default 0.1, as torch. */
  readonly gamma?: number;
}

/**
 * `initValue` multiplied by `gamma` every `stepSize` steps (torch `StepLR(step_size, gamma)`;
 * optax writes it as `exponential_decay(..., staircase=True)`):
 *
 * ```
 * value = initValue * gamma^floor(step / stepSize)
 * ```
 */
export function stepDecaySchedule(options: StepDecayScheduleOptions): Schedule {
  const name = 'stepDecaySchedule';
  const init = finite(name, 'initValue', options.initValue);
  const size = check.integer(name, 'stepSize', options.stepSize, 1);
  const gamma = check.number(name, 'gamma', options.gamma ?? 0.1, { min: 0 });
  return (step) => {
    const p = Math.floor(Math.max(step, 0) / size);
    return init === 0 ? 0 : init * gamma ** p; // 0 stays 0 (never 0 * inf)
  };
}

/** Options of {@link cosineOnecycleSchedule} and {@link linearOnecycleSchedule}. */
export interface OnecycleScheduleOptions {
  /** The total steps of the cycle, an integer >= 2 (torch `total_steps`). */
  readonly transitionSteps: number;
  /** The largest value, reached at the end of the first phase (torch `max_lr`). */
  readonly peakValue: number;
  /** The fraction of `transitionSteps` spent rising, in (0, 1), with `pctStart * transitionSteps > 1`. Default 0.3. */
  readonly pctStart?: number;
  /** The start value is `peakValue / divFactor`, > 0. Default 25. */
  readonly divFactor?: number;
  /** The final value is `peakValue / (divFactor * finalDivFactor)`, > 0. Default 1e4. */
  readonly finalDivFactor?: number;
}

type Anneal = (start: number, end: number, pct: number) => number;
// torch's _annealing_cos and _annealing_linear, in their order of operations
const annealCos: Anneal = (start, end, pct) => end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
const annealLinear: Anneal = (start, end, pct) => (end - start) * pct + start;

function onecycle(name: string, options: OnecycleScheduleOptions, anneal: Anneal): Schedule {
  const total = check.integer(name, 'transitionSteps', options.transitionSteps, 2);
  const peak = finite(name, 'peakValue', options.peakValue);
  const pct = check.number(name, 'pctStart', options.pctStart ?? 0.3, { min: 0, max: 1, minExclusive: true, maxExclusive: true });
  const div = check.number(name, 'divFactor', options.divFactor ?? 25, { min: 0, minExclusive: true });
  const finalDiv = check.number(name, 'finalDivFactor', options.finalDivFactor ?? 1e4, { min: 0, minExclusive: true });
  // torch: phase 1 ends at step pct * total - 1, phase 2 at total - 1
  const end1 = pct * total - 1;
  const end2 = total - 1;
  if (!(end1 > 0)) {
    // torch would divide by zero (or go backwards) in the first phase
    throw new EmosensError('INVALID_OPTION', `${name}: options 'pctStart' * 'transitionSteps' must be > 1, so that the rise has a step; got ${pct} * ${total} = ${pct * total}.`);
  }
  const init = peak / div;
  const min = init / finalDiv;
  return (step) => {
    const t = Math.min(Math.max(step, 0), end2);
    return t <= end1 ? anneal(init, peak, t / end1) : anneal(peak, min, (t - end1) / (end2 - end1));
  };
}

/**
 * One cycle along cosines (optax `cosine_onecycle_schedule`, torch `OneCycleLR` with
 * `anneal_strategy='cos'`, `three_phase=False`; Smith and Topin, arXiv 1708.07120): from
 * `peakValue / divFactor` up to `peakValue`, then down to `peakValue / (divFactor * finalDivFactor)`.
 *
 * ```
 * e1 = pctStart * transitionSteps - 1,   e2 = transitionSteps - 1,   t = min(step, e2)
 * t <= e1:  cos(init, peak, t / e1)
 * else:     cos(peak, min, (t - e1) / (e2 - e1))
 * cos(a, b, p) = b + (a - b) / 2 * (1 + cos(pi * p))
 * ```
 *
 * Follows torch's phase boundaries: the peak is reached at step `pctStart * transitionSteps - 1`
 * and the final value at step `transitionSteps - 1` (held after, where torch refuses to step).
 * **optax differs by one step**: its peak is at `floor(pctStart * transitionSteps)` and its
 * final value at `transitionSteps`.
 */
export function cosineOnecycleSchedule(options: OnecycleScheduleOptions): Schedule {
  return onecycle('cosineOnecycleSchedule', options, annealCos);
}

/**
 * One cycle along straight lines (optax `linear_onecycle_schedule`, torch `OneCycleLR` with
 * `anneal_strategy='linear'`, `three_phase=False`): as {@link cosineOnecycleSchedule} with
 * `lin(a, b, p) = (b - a) * p + a` in place of the cosine. The same boundaries as torch,
 * one step before optax's.
 */
export function linearOnecycleSchedule(options: OnecycleScheduleOptions): Schedule {
  return onecycle('linearOnecycleSchedule', options, annealLinear);
}

/** Options of {@link cosineWarmRestartsSchedule}. */
export interface CosineWarmRestartsScheduleOptions {
  /** The value at the start of every period (torch: the optimizer's lr). */
  readonly initValue: number;
  /** The steps of the first period, an integer >= 1 (torch `T_0`). */
  readonly firstPeriod: number;
  /** Each period is this many times the previous one, an integer >= 1 (torch `T_mult`). Default 1. */
  readonly periodMultiplier?: number;
  /** The value the cosine approaches at the end of a period (torch `eta_min`). Default 0. */
  readonly minValue?: number;
}

/**
 * Cosine annealing with warm restarts, SGDR (Loshchilov and Hutter, arXiv 1608.03983;
 * torch `CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)`; optax's `sgdr_schedule`
 * takes a list of warm-up cosine pieces instead):
 *
 * ```
 * periods T_0 = firstPeriod, T_i = T_{i-1} * periodMultiplier; c = steps since the last restart
 * value = minValue + (initValue - minValue) * (1 + cos(pi * c / T_i)) / 2
 * ```
 */
export function cosineWarmRestartsSchedule(options: CosineWarmRestartsScheduleOptions): Schedule {
  const name = 'cosineWarmRestartsSchedule';
  const init = finite(name, 'initValue', options.initValue);
  const first = check.integer(name, 'firstPeriod', options.firstPeriod, 1);
  const mult = check.integer(name, 'periodMultiplier', options.periodMultiplier ?? 1, 1);
  const min = finite(name, 'minValue', options.minValue ?? 0);
  return (step) => {
    let c = Math.max(step, 0);
    let period = first;
    if (mult === 1) c %= first;
    else {
      while (c >= period) {
        c -= period;
        period *= mult;
      }
    }
    return min + ((init - min) * (1 + Math.cos((Math.PI * c) / period))) / 2;
  };
}
