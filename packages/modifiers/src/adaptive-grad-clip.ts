import { check, composedUpdate, EmosensError, fx, type EmptyState, type FusionForm, type GradientTransformation, type Sym } from '@emosens/core';

/** Options of {@link adaptiveGradClip}, optax's `adaptive_grad_clip` arguments in camelCase. */
export interface AdaptiveGradClipOptions {
  /** The largest ratio of a unit's update norm to its parameter norm, > 0. Required. */
  readonly clipping: number;
  /** The smallest parameter norm (keeps zero-initialised units from being clipped to 0), >= 0. Default 1e-3. */
  readonly eps?: number;
}

/** How a parameter of `shape` is split into units: one unit, or one per column (over axis 0). */
function unitsOf(shape: readonly number[]): 'whole' | 'columns' | undefined {
  // optax's unitwise_norm: scalars and vectors (after squeezing size-1 axes) are one unit
  if (shape.filter((d) => d !== 1).length <= 1) return 'whole';
  if (shape.length === 2 || shape.length === 3) return 'columns';
  return undefined;
}

function refuse(name: string, key: string, shape: readonly number[]): never {
  throw new EmosensError(
    'INVALID_OPTION',
    `${name}: parameter '${key}' has shape [${shape.join(', ')}]; unit-wise norms are supported for rank <= 3 ` +
      `(rank 4 and 5 kernels would need a norm per output channel over several axes, which the fused reductions ` +
      `do not express; route such parameters elsewhere with partition).`,
  );
}

/**
 * Adaptive gradient clipping (Brock et al., arXiv 2102.06171), as optax's `adaptive_grad_clip`:
 * clips each unit's update to at most `clipping` times its parameter's norm.
 *
 * ```
 * gn = ||u||_unit     pn = ||p||_unit                    (L2 norms, one per unit)
 * maxNorm = clipping * max(pn, eps)
 * u <- gn < maxNorm ? u : u * maxNorm / max(gn, 1e-6)
 * ```
 *
 * Units are optax's `unitwise_norm` defaults: a scalar or vector (size-1 axes aside) is one unit;
 * a matrix `[in, out]` (a Dense kernel, the layout of tfjs and of optax) has one unit per output
 * column, the norm taken over axis 0; a rank-3 parameter `[d0, d1, d2]` has one unit per
 * `(d1, d2)` slice, also over axis 0 (optax's multi-head linear). Stateless; needs the parameters.
 * Options: `clipping` (required), `eps = 1e-3`.
 *
 * **Difference from optax.** Rank 4 and 5 parameters (conv kernels `HWIO`, `DHWIO`, one unit per
 * output channel over all other axes) are refused when the block is initialised (`INVALID_OPTION`):
 * the fused reductions are per row (axis 0) and per column (the other axes together), which cannot
 * express a norm over all axes but the last. optax's `axis` argument is not offered.
 *
 * ```ts
 * chain(adaptiveGradClip({ clipping: 0.01 }), trace({ decay: 0.9 }), scaleByLearningRate(0.1))
 * ```
 */
export function adaptiveGradClip(options: AdaptiveGradClipOptions): GradientTransformation<EmptyState> {
  const name = 'adaptiveGradClip';
  if (typeof options !== 'object' || options === null) {
    throw new EmosensError('INVALID_OPTION', `${name}: options must be an object with 'clipping', got ${String(options)}.`);
  }
  const clipping = check.number(name, 'clipping', options.clipping, { min: 0, minExclusive: true });
  const eps = check.number(name, 'eps', options.eps ?? 1e-3, { min: 0 });

  const fusion: FusionForm = {
    update(updates, state, params, context) {
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(updates)) {
        const shape = context.parameter(key).shape;
        const units = unitsOf(shape) ?? refuse(name, key, shape);
        const norm = (x: Sym) => fx.sqrt(units === 'whole' ? fx.sum(fx.square(x)) : fx.colSum(fx.square(x)));
        const gn = norm(u);
        const maxNorm = fx.mul(clipping, fx.max(norm(params[key]!), eps));
        out[key] = fx.select(fx.lt(gn, maxNorm), u, fx.mul(u, fx.div(maxNorm, fx.max(gn, 1e-6))));
      }
      return { updates: out, state };
    },
  };

  return {
    name,
    init: (params) => {
      for (const [key, p] of Object.entries(params)) if (unitsOf(p.shape) === undefined) refuse(name, key, p.shape);
      return {};
    },
    update: composedUpdate(name, fusion),
    fusion,
  };
}
