import { check, composedUpdate, EmosensError, fx, type EmptyState, type FusionForm, type GradientTransformation, type Sym, type SymMap } from '@emosens/core';

/** A learning rate as a function of the step number (0 on the first step). */
export type Schedule = (step: number) => number;

/** State of {@link scaleByLearningRate} with a schedule: steps taken so far. */
export type ScheduleState = { readonly count: number };

/**
 * A learning rate read each step from a host value an earlier block of the chain publishes
 * (`context.publishValue`), e.g. `{ fromValue: 'stepSize' }` for `emoPulse`'s step size.
 */
export interface LearningRateFromValue {
  /** The name of the host value. */
  readonly fromValue: string;
}

/**
 * Scales by the learning rate and flips the sign for descent: `u = -lr * u`. This is
 * the one place in emosens where the descent sign is applied.
 *
 * With a number, the block has no state. With a schedule `step => lr`, it counts steps
 * in a plain number and evaluates the schedule on the CPU (so it never reads tensors);
 * note that a step skipped on the device (the tfjs adapter's `'skip'` policy) still
 * advances a schedule.
 *
 * With `{ fromValue: name }`, the block has no state and multiplies by `-value`, where
 * `value` is the host value `name` published earlier in the step (`context.publishValue`),
 * e.g. `emoPulse`'s `stepSize`. It throws `MISSING_SIGNAL`, naming this block, when no
 * earlier block published it.
 *
 * ```ts
 * chain(scaleByAdam(), scaleByLearningRate(1e-3))
 * chain(scaleByAdam(), scaleByLearningRate((t) => 1e-3 * Math.min(1, (t + 1) / 100)))  // warm-up
 * chain(trackEmotionV3(), emoPulse(), scaleByAdam(), scaleByLearningRate({ fromValue: 'stepSize' }))
 * ```
 */
export function scaleByLearningRate(learningRate: number): GradientTransformation<EmptyState>;
export function scaleByLearningRate(learningRate: Schedule): GradientTransformation<ScheduleState>;
export function scaleByLearningRate(learningRate: LearningRateFromValue): GradientTransformation<EmptyState>;
export function scaleByLearningRate(
  learningRate: number | Schedule | LearningRateFromValue,
): GradientTransformation<EmptyState> | GradientTransformation<ScheduleState>;
export function scaleByLearningRate(
  learningRate: number | Schedule | LearningRateFromValue,
): GradientTransformation<EmptyState> | GradientTransformation<ScheduleState> {
  const name = 'scaleByLearningRate';
  const scaleSym = (updates: SymMap, factor: Sym) => {
    const out: Record<string, Sym> = {};
    for (const [key, u] of Object.entries(updates)) out[key] = fx.mul(u, factor);
    return out;
  };
  const checked = (count: number): number => {
    const lr = typeof learningRate !== 'function' ? NaN : learningRate(count);
    if (!Number.isFinite(lr)) {
      throw new EmosensError('INVALID_OPTION', `${name}: the schedule returned ${lr} at step ${count}; expected a finite number.`);
    }
    return lr;
  };
  if (typeof learningRate === 'object' && learningRate !== null) {
    const value: unknown = (learningRate as Partial<LearningRateFromValue>).fromValue;
    if (typeof value !== 'string' || value === '') {
      throw new EmosensError('INVALID_OPTION', `${name}: option 'fromValue' must be the name of a host value (a non-empty string), got ${String(value)}.`);
    }
    // the host value of the step (a uniform of the fused pass)
    const fusion: FusionForm = {
      update: (updates, state, _params, context) => ({ updates: scaleSym(updates, fx.uniform(-context.readValue(value, name))), state }),
    };
    const fromValue: GradientTransformation<EmptyState> = { name, init: () => ({}), update: composedUpdate(name, fusion), fusion };
    return fromValue;
  }
  if (typeof learningRate !== 'function') {
    const lr = check.number(name, 'learningRate', learningRate, { min: 0 });
    const fusion: FusionForm = { update: (updates, state) => ({ updates: scaleSym(updates, fx.const(-lr)), state }) };
    const constant: GradientTransformation<EmptyState> = { name, init: () => ({}), update: composedUpdate(name, fusion), fusion };
    return constant;
  }
  // the schedule's value is a host value of the step (a uniform of the fused pass)
  const fusion: FusionForm = {
    update(updates, state) {
      const count = (state as { count: number }).count;
      return { updates: scaleSym(updates, fx.uniform(-checked(count))), state: { count: count + 1 } };
    },
  };
  const scheduled: GradientTransformation<ScheduleState> = { name, init: () => ({ count: 0 }), update: composedUpdate(name, fusion), fusion };
  return scheduled;
}
