import * as tf from '@tensorflow/tfjs-core';
import { check, composedUpdate, EmosensError, fx, type FusionForm, type GradientTransformation, type LeafRef, type Sym } from '@emosens/core';

/** Options of {@link reduceOnPlateau}: torch `ReduceLROnPlateau`'s, camelCased, with its defaults. */
export interface ReduceOnPlateauOptions {
  /** `'min'`: the loss should fall; `'max'`: the watched value should rise. Default `'min'`. */
  readonly mode?: 'min' | 'max';
  /** The scale is multiplied by this on a plateau, in [0, 1). Default 0.1. */
  readonly factor?: number;
  /** Steps without improvement tolerated before a reduction, an integer >= 0. Default 10. */
  readonly patience?: number;
  /** How much better than the best a value must be to count, >= 0. Default 1e-4. */
  readonly threshold?: number;
  /** `'rel'`: better by `threshold` times the best; `'abs'`: by `threshold`. Default `'rel'`. */
  readonly thresholdMode?: 'rel' | 'abs';
  /** Steps after a reduction during which bad steps are not counted, an integer >= 0. Default 0. */
  readonly cooldown?: number;
  /** The smallest scale, >= 0 (torch's `min_lr` divided by the base learning rate). Default 0. */
  readonly minScale?: number;
  /** A reduction smaller than this (on the scale) is skipped, >= 0 (torch's `eps` divided by the base learning rate). Default 1e-8. */
  readonly eps?: number;
}

/** State of {@link reduceOnPlateau}: float32 scalars, all on the device. */
export type ReduceOnPlateauState = {
  /** The scale the next step's updates are multiplied by, 1 at first. Float32 scalar. */
  readonly scale: tf.Scalar;
  /** The best loss so far (`+inf` at first in mode `'min'`, `-inf` in `'max'`). Float32 scalar. */
  readonly best: tf.Scalar;
  /** Steps since the last improvement (torch `num_bad_epochs`). Float32 scalar. */
  readonly numBadSteps: tf.Scalar;
  /** Cooldown steps left (torch `cooldown_counter`). Float32 scalar. */
  readonly cooldownCounter: tf.Scalar;
};

function oneOf<T extends string>(block: string, option: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new EmosensError('INVALID_OPTION', `${block}: option '${option}' must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${String(value)}.`);
  }
  return value as T;
}

/**
 * Scales the updates down when the loss stops improving: torch's `ReduceLROnPlateau` as a
 * gradient transformation (optax `contrib.reduce_on_plateau`). Place it before the
 * learning rate: `chain(scaleByAdam(), reduceOnPlateau({ patience: 5 }), scaleByLearningRate(1e-3))`.
 *
 * Step t multiplies its updates by the scale computed from the losses of steps 0..t-1 (torch
 * steps the scheduler after the optimizer step, with that step's loss), then takes loss_t in:
 *
 * ```
 * u = u * scale
 * better = loss < best * (1 - threshold)     ('min', 'rel';  'abs': loss < best - threshold;
 *                                             'max': loss > best * (1 + threshold) or best + threshold)
 * best = better ? loss : best;   numBadSteps = better ? 0 : numBadSteps + 1
 * if cooldownCounter > 0:  cooldownCounter -= 1;  numBadSteps = 0
 * if numBadSteps > patience:
 *   next = max(scale * factor, minScale);  if scale - next > eps: scale = next
 *   cooldownCounter = cooldown;  numBadSteps = 0
 * ```
 *
 * Needs the step's loss (a number or a float32 scalar tensor); throws `MISSING_LOSS`
 * without one. Every state field is a float32 scalar on the device and nothing is read
 * back, so the block fuses on every backend. torch's `min_lr` and `eps` are learning
 * rates; here they are scales (divide them by the base learning rate). The comparisons run
 * in float32 (torch compares Python floats), which can differ only for a loss within float32
 * rounding of the threshold.
 */
export function reduceOnPlateau(options: ReduceOnPlateauOptions = {}): GradientTransformation<ReduceOnPlateauState> {
  const name = 'reduceOnPlateau';
  const mode = oneOf(name, 'mode', options.mode ?? 'min', ['min', 'max'] as const);
  const factor = check.number(name, 'factor', options.factor ?? 0.1, { min: 0, max: 1, maxExclusive: true });
  const patience = check.integer(name, 'patience', options.patience ?? 10, 0);
  const threshold = check.number(name, 'threshold', options.threshold ?? 1e-4, { min: 0 });
  const thresholdMode = oneOf(name, 'thresholdMode', options.thresholdMode ?? 'rel', ['rel', 'abs'] as const);
  const cooldown = check.integer(name, 'cooldown', options.cooldown ?? 0, 0);
  const minScale = check.number(name, 'minScale', options.minScale ?? 0, { min: 0 });
  const eps = check.number(name, 'eps', options.eps ?? 1e-8, { min: 0 });

  // torch's is_better, in its order of operations
  const isBetter = (loss: Sym, best: Sym): Sym => {
    if (mode === 'min') return fx.lt(loss, thresholdMode === 'rel' ? fx.mul(best, 1 - threshold) : fx.sub(best, threshold));
    return fx.gt(loss, thresholdMode === 'rel' ? fx.mul(best, threshold + 1) : fx.add(best, threshold));
  };

  const fusion: FusionForm = {
    update(updates, state, _params, context) {
      const s = state as Readonly<Record<keyof ReduceOnPlateauState, LeafRef>>;
      const loss = context.loss(name);
      const scale = fx.step(s.scale);
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(updates)) out[key] = fx.mul(u, scale);

      const best = fx.step(s.best);
      const better = isBetter(loss, best);
      const newBest = fx.select(better, loss, best);
      const counter = fx.step(s.cooldownCounter);
      const inCooldown = fx.gt(counter, 0);
      const bad = fx.select(inCooldown, 0, fx.select(better, 0, fx.add(fx.step(s.numBadSteps), 1)));
      const counted = fx.select(inCooldown, fx.sub(counter, 1), counter);
      const reduce = fx.gt(bad, patience);
      const next = fx.max(fx.mul(scale, factor), minScale);
      const newScale = fx.select(fx.and(reduce, fx.gt(fx.sub(scale, next), eps)), next, scale);
      return {
        updates: out,
        state: {
          scale: newScale,
          best: newBest,
          numBadSteps: fx.select(reduce, 0, bad),
          cooldownCounter: fx.select(reduce, cooldown, counted),
        },
      };
    },
  };

  return {
    name,
    init: () => ({
      scale: tf.scalar(1),
      best: tf.scalar(mode === 'min' ? Infinity : -Infinity),
      numBadSteps: tf.scalar(0),
      cooldownCounter: tf.scalar(0),
    }),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
