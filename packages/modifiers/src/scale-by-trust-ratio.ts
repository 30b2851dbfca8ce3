import { check, elementwise, fx, type EmptyState, type GradientTransformation, type Sym } from '@emosens/core';

/** Options of {@link scaleByTrustRatio}, optax's `scale_by_trust_ratio` arguments in camelCase. */
export interface ScaleByTrustRatioOptions {
  /** Lower bound of both norms, >= 0. Default 0 (no bound). */
  readonly minNorm?: number;
  /** Multiplier of the trust ratio, >= 0. Default 1. */
  readonly trustCoefficient?: number;
  /** Added to the update norm in the denominator, >= 0. Default 0. */
  readonly eps?: number;
}

/** `max(||x||, minNorm)` as optax's `safe_norm`: the L2 norm over all of a parameter's elements, `minNorm` when it is not above it. */
function safeNorm(x: Sym, minNorm: number): Sym {
  const norm = fx.sqrt(fx.sum(fx.square(x)));
  return minNorm > 0 ? fx.select(fx.le(norm, minNorm), minNorm, norm) : norm;
}

/**
 * Scales each parameter's update by its trust ratio, as optax's `scale_by_trust_ratio` (LARS,
 * LAMB; You et al., arXiv 1904.00962):
 *
 * ```
 * pn = max(||p||, minNorm)        un = max(||u||, minNorm)      (L2 norms over the parameter)
 * ratio = trustCoefficient * pn / (un + eps),   1 where pn == 0 or un == 0
 * u <- u * ratio
 * ```
 *
 * Stateless; needs the parameters. Options: `minNorm = 0`, `trustCoefficient = 1`, `eps = 0`.
 * A zero parameter (fresh biases) or a zero update is left as it is, optax's rule.
 *
 * ```ts
 * const lamb = chain(scaleByAdam({ eps: 1e-6 }), addDecayedWeights(0.01), scaleByTrustRatio(), scaleByLearningRate(1e-3));
 * ```
 */
export function scaleByTrustRatio(options: ScaleByTrustRatioOptions = {}): GradientTransformation<EmptyState> {
  const name = 'scaleByTrustRatio';
  const minNorm = check.number(name, 'minNorm', options.minNorm ?? 0, { min: 0 });
  const trustCoefficient = check.number(name, 'trustCoefficient', options.trustCoefficient ?? 1, { min: 0 });
  const eps = check.number(name, 'eps', options.eps ?? 0, { min: 0 });
  return elementwise(name, (u, p) => {
    const pn = safeNorm(p, minNorm);
    const un = safeNorm(u, minNorm);
    const ratio = fx.div(fx.mul(trustCoefficient, pn), fx.add(un, eps));
    return fx.mul(u, fx.select(fx.or(fx.eq(pn, 0), fx.eq(un, 0)), 1, ratio));
  });
}
