import { chain, check, EmosensError, type GradientTransformation, type StateValue } from '@emosens/core';
import { addDecayedWeights, scaleByLearningRate, scaleBySign } from '@emosens/modifiers';
import { scaleByAdagrad, scaleByAdamax, scaleByLionMoment, scaleByNadam, scaleByRadam, scaleByRms, trace } from '@emosens/moments';
import {
  checkLearningRate,
  checkOptionKeys,
  type LearningRate,
  type AdagradOptions,
  type AdamaxOptions,
  type LionOptions,
  type NadamOptions,
  type RadamOptions,
  type RmspropOptions,
  type SgdOptions,
} from './options.js';

// torch's `weight_decay` is an L2 penalty for these classes: added to the gradient
// before the direction. Lion's is decoupled: added after the direction, scaled by lr.

/** The validated options of an Adam-family optimizer. */
export interface AdamFamilyOptions {
  readonly lr: LearningRate;
  readonly b1: number;
  readonly b2: number;
  readonly eps: number;
  readonly weightDecay: number;
}

/**
 * Checks an Adam-family optimizer's `lr`, `betas`, `eps`, `weightDecay` and `extra` option
 * names once, naming the optimizer, and applies the defaults.
 */
export function resolveAdamFamily(
  name: string,
  options: { readonly lr?: LearningRate; readonly betas?: readonly [number, number]; readonly eps?: number; readonly weightDecay?: number },
  defaults: { readonly lr: number; readonly weightDecay: number },
  extra: readonly string[],
): AdamFamilyOptions {
  checkOptionKeys(name, options, ['lr', 'betas', 'eps', 'weightDecay', ...extra]);
  const lr = checkLearningRate(name, options.lr, defaults.lr);
  const [b1, b2] = check.betas(name, 'betas', options.betas ?? [0.9, 0.999]);
  const eps = check.divisorEps(name, 'eps', options.eps ?? 1e-8);
  const weightDecay = check.number(name, 'weightDecay', options.weightDecay ?? defaults.weightDecay, { min: 0 });
  return { lr, b1, b2, eps, weightDecay };
}

/**
 * The chain of torch's Adam-family classes: `chain(addDecayedWeights(wd), direction,
 * scaleByLearningRate(lr))` (weight decay L2, before the direction).
 */
function adamFamily(
  name: string,
  options: { readonly lr?: LearningRate; readonly betas?: readonly [number, number]; readonly eps?: number; readonly weightDecay?: number },
  defaultLr: number,
  extra: readonly string[],
  direction: (betas: { b1: number; b2: number; eps: number }) => GradientTransformation<StateValue>,
): GradientTransformation<StateValue> {
  const { lr, b1, b2, eps, weightDecay } = resolveAdamFamily(name, options, { lr: defaultLr, weightDecay: 0 }, extra);
  const tx = chain({ decay: addDecayedWeights(weightDecay), direction: direction({ b1, b2, eps }), lr: scaleByLearningRate(lr) });
  return tx as GradientTransformation<StateValue>;
}

/**
 * SGD as `torch.optim.SGD` (torch 1.13), options in camelCase:
 *
 * ```
 * chain(addDecayedWeights(weightDecay),              g + wd * p   (L2)
 *       trace({ decay: momentum, dampening, nesterov }),   only when momentum > 0
 *       scaleByLearningRate(lr))                     * -lr
 * ```
 *
 * Defaults: lr 1e-3 (torch has no default), momentum 0, dampening 0, nesterov false,
 * weightDecay 0. `nesterov` needs `momentum > 0` and `dampening = 0`, as in torch.
 */
export function sgd(options: SgdOptions = {}): GradientTransformation<StateValue> {
  const name = 'sgd';
  checkOptionKeys(name, options, ['lr', 'momentum', 'dampening', 'nesterov', 'weightDecay']);
  const lr = checkLearningRate(name, options.lr, 1e-3);
  const momentum = check.number(name, 'momentum', options.momentum ?? 0, { min: 0 });
  const dampening = check.number(name, 'dampening', options.dampening ?? 0, { min: 0, max: 1 });
  const nesterov = check.boolean(name, 'nesterov', options.nesterov ?? false);
  const weightDecay = check.number(name, 'weightDecay', options.weightDecay ?? 0, { min: 0 });
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new EmosensError(
      'INVALID_OPTION',
      `${name}: option 'nesterov' needs momentum > 0 and dampening 0, got momentum ${momentum} and dampening ${dampening}.`,
    );
  }
  const tx = chain({
    decay: addDecayedWeights(weightDecay),
    ...(momentum > 0 ? { momentum: trace({ decay: momentum, dampening, nesterov }) } : {}),
    lr: scaleByLearningRate(lr),
  });
  return tx as GradientTransformation<StateValue>;
}

/**
 * RMSprop as `torch.optim.RMSprop` (torch 1.13), options in camelCase:
 *
 * ```
 * chain(addDecayedWeights(weightDecay),              g + wd * p   (L2)
 *       scaleByRms({ alpha, eps, centered }),        g / (sqrt(v) + eps)   (centered: sqrt(v - m^2))
 *       trace({ decay: momentum }),                  only when momentum > 0: buf accumulates g / avg
 *       scaleByLearningRate(lr))                     * -lr
 * ```
 *
 * Defaults: lr 1e-2, alpha 0.99, eps 1e-8, weightDecay 0, momentum 0, centered false.
 */
export function rmsprop(options: RmspropOptions = {}): GradientTransformation<StateValue> {
  const name = 'rmsprop';
  checkOptionKeys(name, options, ['lr', 'alpha', 'eps', 'weightDecay', 'momentum', 'centered']);
  const lr = checkLearningRate(name, options.lr, 1e-2);
  const alpha = check.number(name, 'alpha', options.alpha ?? 0.99, { min: 0, max: 1 });
  const eps = check.divisorEps(name, 'eps', options.eps ?? 1e-8);
  const weightDecay = check.number(name, 'weightDecay', options.weightDecay ?? 0, { min: 0 });
  const momentum = check.number(name, 'momentum', options.momentum ?? 0, { min: 0 });
  const centered = check.boolean(name, 'centered', options.centered ?? false);
  const tx = chain({
    decay: addDecayedWeights(weightDecay),
    rms: scaleByRms({ alpha, eps, centered }),
    ...(momentum > 0 ? { momentum: trace({ decay: momentum }) } : {}),
    lr: scaleByLearningRate(lr),
  });
  return tx as GradientTransformation<StateValue>;
}

/**
 * Adagrad as `torch.optim.Adagrad` (torch 1.13) without `lr_decay` (it is not offered:
 * torch's default 0 is what this does; for a decaying rate, chain `scaleByAdagrad`
 * with `scaleByLearningRate(schedule)` yourself). Options in camelCase:
 *
 * ```
 * chain(addDecayedWeights(weightDecay),              g + wd * p   (L2)
 *       scaleByAdagrad({ eps, initialAccumulatorValue }),   g / (sqrt(sum) + eps)
 *       scaleByLearningRate(lr))                     * -lr
 * ```
 *
 * Defaults: lr 1e-2, weightDecay 0, initialAccumulatorValue 0, eps 1e-10.
 */
export function adagrad(options: AdagradOptions = {}): GradientTransformation<StateValue> {
  const name = 'adagrad';
  checkOptionKeys(name, options, ['lr', 'weightDecay', 'initialAccumulatorValue', 'eps']);
  const lr = checkLearningRate(name, options.lr, 1e-2);
  const weightDecay = check.number(name, 'weightDecay', options.weightDecay ?? 0, { min: 0 });
  const initialAccumulatorValue = check.number(name, 'initialAccumulatorValue', options.initialAccumulatorValue ?? 0, { min: 0 });
  const eps = check.divisorEps(name, 'eps', options.eps ?? 1e-10);
  const tx = chain({
    decay: addDecayedWeights(weightDecay),
    adagrad: scaleByAdagrad({ eps, initialAccumulatorValue }),
    lr: scaleByLearningRate(lr),
  });
  return tx as GradientTransformation<StateValue>;
}

/**
 * Adamax as `torch.optim.Adamax` (torch 1.13), options in camelCase:
 *
 * ```
 * chain(addDecayedWeights(weightDecay),              g + wd * p   (L2)
 *       scaleByAdamax({ b1, b2, eps }),              m / ((1 - b1^t) * max(b2 u, |g| + eps))
 *       scaleByLearningRate(lr))                     * -lr
 * ```
 *
 * Defaults: lr 2e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0.
 */
export function adamax(options: AdamaxOptions = {}): GradientTransformation<StateValue> {
  return adamFamily('adamax', options, 2e-3, [], (o) => scaleByAdamax(o) as GradientTransformation<StateValue>);
}

/**
 * Lion (Chen et al., arXiv 2302.06675, Algorithm 2; torch has no Lion class), with
 * decoupled weight decay `p *= 1 - lr * wd` before the step:
 *
 * ```
 * chain(scaleByLionMoment({ b1, b2 }), scaleBySign(),   sign(b1 m + (1 - b1) g);  m = b2 m + (1 - b2) g
 *       addDecayedWeights(weightDecay),              + wd * p   (decoupled)
 *       scaleByLearningRate(lr))                     * -lr
 * ```
 *
 * Defaults: lr 1e-4, betas (0.9, 0.99), weightDecay 0.
 */
export function lion(options: LionOptions = {}): GradientTransformation<StateValue> {
  const name = 'lion';
  checkOptionKeys(name, options, ['lr', 'betas', 'weightDecay']);
  const lr = checkLearningRate(name, options.lr, 1e-4);
  const [b1, b2] = check.betas(name, 'betas', options.betas ?? [0.9, 0.99]);
  const weightDecay = check.number(name, 'weightDecay', options.weightDecay ?? 0, { min: 0 });
  const tx = chain({
    moment: scaleByLionMoment({ b1, b2 }),
    sign: scaleBySign(),
    decay: addDecayedWeights(weightDecay),
    lr: scaleByLearningRate(lr),
  });
  return tx as GradientTransformation<StateValue>;
}

/**
 * NAdam as `torch.optim.NAdam` (torch 1.13), options in camelCase:
 * `chain(addDecayedWeights(weightDecay), scaleByNadam({ b1, b2, eps, momentumDecay }), scaleByLearningRate(lr))`
 * (weight decay L2, as torch). Defaults: lr 2e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0,
 * momentumDecay 4e-3.
 */
export function nadam(options: NadamOptions = {}): GradientTransformation<StateValue> {
  return adamFamily('nadam', options, 2e-3, ['momentumDecay'], (o) => {
    const momentumDecay = check.number('nadam', 'momentumDecay', options.momentumDecay ?? 4e-3, { min: 0 });
    return scaleByNadam({ ...o, momentumDecay }) as GradientTransformation<StateValue>;
  });
}

/**
 * RAdam as `torch.optim.RAdam` (torch 1.13), options in camelCase:
 * `chain(addDecayedWeights(weightDecay), scaleByRadam({ b1, b2, eps }), scaleByLearningRate(lr))`
 * (weight decay L2, as torch). Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0.
 */
export function radam(options: RadamOptions = {}): GradientTransformation<StateValue> {
  return adamFamily('radam', options, 1e-3, [], (o) => scaleByRadam(o) as GradientTransformation<StateValue>);
}
