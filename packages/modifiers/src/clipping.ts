import { check, composedUpdate, elementwise, fx, type EmptyState, type FusionForm, type GradientTransformation, type Sym } from '@emosens/core';

/**
 * Clamps each update elementwise to `[-maxDelta, maxDelta]` (torch's
 * `clip_grad_value_`, optax's `clip`):
 *
 *   u <- min(max(u, -maxDelta), maxDelta)
 *
 * ```ts
 * chain(clip(1), scaleByAdam(), scaleByLearningRate(1e-3))
 * ```
 */
export function clip(maxDelta: number): GradientTransformation<EmptyState> {
  const max = check.number('clip', 'maxDelta', maxDelta, { min: 0, minExclusive: true });
  return elementwise('clip', (u) => fx.min(fx.max(u, -max), max));
}

/**
 * Scales all updates together so that their global L2 norm is at most `maxNorm`, with
 * the formula of torch's `clip_grad_norm_` (optax's `clip_by_global_norm` has no 1e-6):
 *
 *   u <- u * min(1, maxNorm / (norm + 1e-6)),   norm = sqrt(sum over parameters of sum(u^2))
 *
 * Stateless. A norm of 0 leaves the updates unchanged.
 *
 * ```ts
 * chain(clipByGlobalNorm(1), scaleByAdam(), scaleByLearningRate(1e-3))
 * ```
 */
export function clipByGlobalNorm(maxNorm: number): GradientTransformation<EmptyState> {
  const name = 'clipByGlobalNorm';
  const max = check.number(name, 'maxNorm', maxNorm, { min: 0, minExclusive: true });
  const fusion: FusionForm = {
    update(updates, state) {
      const entries = Object.entries(updates);
      if (entries.length === 0) return { updates, state };
      const norm = fx.sqrt(fx.sumParams(entries.map(([, u]) => fx.sum(fx.square(u)))));
      const scale = fx.min(1, fx.div(max, fx.add(norm, 1e-6)));
      const out: Record<string, Sym> = {};
      for (const [key, u] of entries) out[key] = fx.mul(u, scale);
      return { updates: out, state };
    },
  };
  return { name, init: () => ({}), update: composedUpdate(name, fusion), fusion };
}

/**
 * Clips each parameter's update on its own to a root mean square of at most `threshold`,
 * as optax's `clip_by_block_rms` does:
 *
 *   u <- u / max(1, rms(u) / threshold),   rms(u) = sqrt(sum(u^2) / numel(u))
 *
 * An update of rms 0 is left unchanged (the denominator is then 1).
 *
 * ```ts
 * chain(scaleByAdam(), clipByBlockRms(1), scaleByLearningRate(1e-3))
 * ```
 */
export function clipByBlockRms(threshold: number): GradientTransformation<EmptyState> {
  const t = check.number('clipByBlockRms', 'threshold', threshold, { min: 0, minExclusive: true });
  return elementwise('clipByBlockRms', (u) => {
    const rms = fx.sqrt(fx.div(fx.sum(fx.square(u)), fx.size(u)));
    return fx.div(u, fx.max(1, fx.div(rms, t)));
  });
}
