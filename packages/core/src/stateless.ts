import type { Tensor } from '@tensorflow/tfjs-core';
import { composedUpdate } from './fusion/composed.js';
import type { FusionContext, FusionForm } from './fusion/form.js';
import type { Sym } from './fusion/graph.js';
import type { GradientTransformation, Params, StepContext, Updates } from './types.js';

/** The empty state of a stateless block. */
export type EmptyState = Readonly<Record<string, never>>;

const EMPTY: EmptyState = Object.freeze({});

/**
 * A block without state from a per-parameter function:
 * `u_out[name] = fn(u_in[name], params[name], context, name)`.
 *
 * With `fused`, the same function over symbolic values (see `fx`), the block fuses:
 *
 * ```ts
 * const scaleByHalf = stateless('scaleByHalf', (u) => tf.mul(u, 0.5), (u) => fx.mul(u, 0.5));
 * ```
 */
export function stateless(
  name: string,
  fn: (update: Tensor, param: Tensor, context: StepContext, paramName: string) => Tensor,
  fused?: (update: Sym, param: Sym, context: FusionContext, paramName: string) => Sym,
): GradientTransformation<EmptyState> {
  return {
    name,
    init: () => EMPTY,
    update(updates: Updates, state: EmptyState, params: Params, context: StepContext) {
      const out: Record<string, Tensor> = {};
      for (const [key, u] of Object.entries(updates)) out[key] = fn(u, params[key]!, context, key);
      return { updates: out, state };
    },
    fusion:
      fused === undefined
        ? { blocked: `block '${name}' has no fused form (stateless() was given no fused function)` }
        : {
            update(updates, state, params, context) {
              const out: Record<string, Sym> = {};
              for (const [key, u] of Object.entries(updates)) out[key] = fused(u, params[key]!, context, key);
              return { updates: out, state };
            },
          },
  };
}

/** The block that passes updates through unchanged. */
export function identity(): GradientTransformation<EmptyState> {
  return {
    name: 'identity',
    init: () => EMPTY,
    update: (updates: Updates, state: EmptyState) => ({ updates, state }),
    fusion: { update: (updates, state) => ({ updates, state }) },
  };
}

/**
 * A block without state whose math is one per-parameter function over symbolic values
 * (see `fx`): `u_out[name] = fn(u_in[name], params[name], context, name)`. Written once, it
 * gives both the composed update (one tf op per value) and the fused form.
 *
 * ```ts
 * const scaleByHalf = elementwise('scaleByHalf', (u) => fx.mul(u, 0.5));
 * ```
 */
export function elementwise(
  name: string,
  fn: (update: Sym, param: Sym, context: FusionContext, paramName: string) => Sym,
): GradientTransformation<EmptyState> {
  const fusion: FusionForm = {
    update(updates, state, params, context) {
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(updates)) out[key] = fn(u, params[key]!, context, key);
      return { updates: out, state };
    },
  };
  return { name, init: () => EMPTY, update: composedUpdate(name, fusion), fusion };
}
