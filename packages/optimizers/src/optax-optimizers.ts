import { chain, check, type GradientTransformation, type StateValue } from '@emosens/core';
import { addDecayedWeights, clipByBlockRms, scale, scaleByLearningRate, scaleByParamBlockRms, scaleByTrustRatio } from '@emosens/modifiers';
import { ema, scaleByAdafactorRms, scaleByAdam } from '@emosens/moments';
import { checkLearningRate, checkOptionKeys, type AdafactorOptions, type LambOptions } from './options.js';

// Optimizers whose reference is optax rather than torch: the chains of optax's `alias.py`,
// block for block, with optax's defaults.

/** An optional number option: `null` or absent turns it off, anything else is checked. */
function optional(name: string, option: string, value: unknown, range: Parameters<typeof check.number>[3]): number | undefined {
  return value === null || value === undefined ? undefined : check.number(name, option, value, range);
}

/**
 * Adafactor (Shazeer & Stern, arXiv 1804.04235) as optax's `adafactor`:
 *
 * ```
 * chain(scaleByAdafactorRms({ factored, decayRate, stepOffset: decayOffset, minDimSizeToFactor, eps }),
 *       clipByBlockRms(clippingThreshold),          unless clippingThreshold is null
 *       lr,                                         u * lr, no sign flip; only when lr is given
 *       scaleByParamBlockRms(),                     u * max(rms(p), 1e-3); when multiplyByParameterScale
 *       ema({ decay: momentum, debias: false }),    only when momentum is given
 *       addDecayedWeights(weightDecayRate),         u + wd * p; only when weightDecayRate is given
 *       scale(-1))                                  descent
 * ```
 *
 * Defaults (optax's): no learning rate, minDimSizeToFactor 128, decayRate 0.8, decayOffset 0,
 * multiplyByParameterScale true, clippingThreshold 1, no momentum, no weight decay, eps 1e-30,
 * factored true. With these, a step moves each parameter by about 1e-3 of its own scale at
 * most (the clipped update has rms <= 1, times max(rms(p), 1e-3)).
 *
 * **Differences from optax.** A learning rate schedule is `scaleByLearningRate(schedule)` followed
 * by `scale(-1)` (the sign flipped twice, exactly), since optax's `flip_sign=False` has no block
 * here. The weight decay mask and `dtype_momentum` are not offered (route parameters with
 * `partition`; the momentum is float32). For parameters of rank > 2, see `scaleByAdafactorRms`:
 * the factored axes are `[d0, d1*...*dn]`, not optax's two largest.
 *
 * ```ts
 * const opt = statefulOptimizer(adafactor({ lr: 1e-2 }), params);
 * ```
 */
export function adafactor(options: AdafactorOptions = {}): GradientTransformation<StateValue> {
  const name = 'adafactor';
  checkOptionKeys(name, options, [
    'lr',
    'minDimSizeToFactor',
    'decayRate',
    'decayOffset',
    'multiplyByParameterScale',
    'clippingThreshold',
    'momentum',
    'weightDecayRate',
    'eps',
    'factored',
  ]);
  const lr = options.lr === undefined ? undefined : checkLearningRate(name, options.lr, 0);
  const minDimSizeToFactor = check.integer(name, 'minDimSizeToFactor', options.minDimSizeToFactor ?? 128, 1);
  const decayRate = check.number(name, 'decayRate', options.decayRate ?? 0.8, { min: 0 });
  const decayOffset = check.integer(name, 'decayOffset', options.decayOffset ?? 0, 0);
  const multiplyByParameterScale = check.boolean(name, 'multiplyByParameterScale', options.multiplyByParameterScale ?? true);
  const clippingThreshold = options.clippingThreshold === null ? undefined : check.number(name, 'clippingThreshold', options.clippingThreshold ?? 1, { min: 0, minExclusive: true });
  const momentum = optional(name, 'momentum', options.momentum, { min: 0, max: 1, maxExclusive: true });
  const weightDecayRate = optional(name, 'weightDecayRate', options.weightDecayRate, { min: 0 });
  const eps = check.divisorEps(name, 'eps', options.eps ?? 1e-30);
  const factored = check.boolean(name, 'factored', options.factored ?? true);

  const tx = chain({
    rms: scaleByAdafactorRms({ factored, decayRate, stepOffset: decayOffset, minDimSizeToFactor, eps }),
    ...(clippingThreshold !== undefined ? { clip: clipByBlockRms(clippingThreshold) } : {}),
    // optax's scale_by_learning_rate(lr, flip_sign=False)
    ...(lr === undefined ? {} : { lr: typeof lr === 'number' ? scale(lr) : chain({ schedule: scaleByLearningRate(lr), unflip: scale(-1) }) }),
    ...(multiplyByParameterScale ? { parameterScale: scaleByParamBlockRms() } : {}),
    ...(momentum !== undefined ? { momentum: ema({ decay: momentum, debias: false }) } : {}),
    ...(weightDecayRate !== undefined ? { decay: addDecayedWeights(weightDecayRate) } : {}),
    descent: scale(-1),
  });
  return tx as GradientTransformation<StateValue>;
}

/**
 * LAMB (You et al., arXiv 1904.00962) as optax's `lamb`:
 *
 * ```
 * chain(scaleByAdam({ b1, b2, eps, epsRoot }),     m_hat / (sqrt(v_hat + epsRoot) + eps)
 *       addDecayedWeights(weightDecay),            u + wd * p
 *       scaleByTrustRatio(),                       u * ||p|| / ||u||   (1 where a norm is 0)
 *       scaleByLearningRate(lr))                   * -lr
 * ```
 *
 * Defaults: lr 1e-3 (optax requires it), b1 0.9, b2 0.999, eps 1e-6, epsRoot 0, weightDecay 0.
 *
 * **Differences from optax.** With `epsRoot` 0, `scaleByAdam` computes the denominator in
 * torch's order, `sqrt(v) / sqrt(1 - b2^t) + eps`, where optax takes `sqrt(v / (1 - b2^t)) + eps`:
 * equal up to float32 rounding. The weight decay is a number (optax also takes a schedule) and the
 * weight decay mask is not offered (route parameters with `partition`).
 *
 * ```ts
 * const opt = statefulOptimizer(lamb({ lr: 1e-3, weightDecay: 0.01 }), params);
 * ```
 */
export function lamb(options: LambOptions = {}): GradientTransformation<StateValue> {
  const name = 'lamb';
  checkOptionKeys(name, options, ['lr', 'b1', 'b2', 'eps', 'epsRoot', 'weightDecay']);
  const lr = checkLearningRate(name, options.lr, 1e-3);
  const b1 = check.number(name, 'b1', options.b1 ?? 0.9, { min: 0, max: 1, maxExclusive: true });
  const b2 = check.number(name, 'b2', options.b2 ?? 0.999, { min: 0, max: 1, maxExclusive: true });
  const eps = check.divisorEps(name, 'eps', options.eps ?? 1e-6);
  const epsRoot = check.number(name, 'epsRoot', options.epsRoot ?? 0, { min: 0 });
  const weightDecay = check.number(name, 'weightDecay', options.weightDecay ?? 0, { min: 0 });
  const tx = chain({
    adam: scaleByAdam({ b1, b2, eps, epsRoot }),
    decay: addDecayedWeights(weightDecay),
    trust: scaleByTrustRatio(),
    lr: scaleByLearningRate(lr),
  });
  return tx as GradientTransformation<StateValue>;
}
