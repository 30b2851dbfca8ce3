import type { Tensor } from '@tensorflow/tfjs-core';
import {
  combineFusion,
  composedUpdate,
  EmosensError,
  innerForm,
  type FusionForm,
  type GradientTransformation,
  type Params,
  type StateValue,
  type Sym,
} from '@emosens/core';

/** Which parameters {@link masked} hands to its inner block: a predicate, or a record name -> boolean naming every parameter. */
export type Mask = ((name: string, param: Tensor) => boolean) | Readonly<Record<string, boolean>>;

/**
 * Runs `inner` on the parameters the mask selects only (optax's `masked`): their updates go
 * through `inner`; the others pass through unchanged, and `inner` neither sees them nor
 * keeps state for them. The state is the inner block's, over the selected parameters.
 *
 * ```
 * u[name] = mask(name, p) ? inner(u)[name] : u[name]
 * ```
 *
 * The mask is a predicate `(name, param) => boolean` (e.g. by rank) or a record naming every
 * parameter (a parameter missing from it is an `INVALID_OPTION` error, naming it). This is
 * `partition({ inner, rest: identity() }, ...)` with the state of `inner` alone, as optax keeps it.
 *
 * ```ts
 * import { chain } from '@emosens/core';
 * import { scaleByAdam } from '@emosens/moments';
 * import { addDecayedWeights, masked, scaleByLearningRate } from '@emosens/modifiers';
 * // decay the matrices only, not the biases
 * const tx = chain(scaleByAdam(), masked(addDecayedWeights(0.01), (_name, p) => p.rank >= 2), scaleByLearningRate(1e-3));
 * ```
 */
export function masked<S extends StateValue>(inner: GradientTransformation<S>, mask: Mask): GradientTransformation<S> {
  const name = `masked(${inner.name})`;
  if (typeof mask !== 'function') {
    if (typeof mask !== 'object' || mask === null || Array.isArray(mask)) {
      throw new EmosensError('INVALID_OPTION', `masked: option 'mask' must be a function (name, param) => boolean or a record of booleans, got ${String(mask)}.`);
    }
    for (const [key, on] of Object.entries(mask)) {
      if (typeof on !== 'boolean') throw new EmosensError('INVALID_OPTION', `masked: option 'mask' must map each parameter to true or false; '${key}' maps to ${String(on)}.`);
    }
  }
  const selects = (key: string, param: Tensor): boolean => {
    if (typeof mask === 'function') return mask(key, param);
    const on = mask[key];
    if (on === undefined) throw new EmosensError('INVALID_OPTION', `${name}: option 'mask' does not name parameter '${key}'; give every parameter true or false.`);
    return on;
  };
  const form = (innerF: FusionForm): FusionForm => ({
    update(updates, state, params, context) {
      const innerUpdates: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(updates)) if (selects(key, context.parameter(key))) innerUpdates[key] = u;
      const innerParams: Record<string, Sym> = {};
      for (const [key, p] of Object.entries(params)) if (selects(key, context.parameter(key))) innerParams[key] = p;
      const r = innerF.update(innerUpdates, state, innerParams, context);
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(updates)) out[key] = key in innerUpdates ? r.updates[key]! : u;
      return { updates: out, state: r.state };
    },
  });
  return {
    name,
    init: (params: Params) => {
      const selected: Record<string, Tensor> = {};
      for (const [key, p] of Object.entries(params)) if (selects(key, p)) selected[key] = p;
      return inner.init(selected);
    },
    update: composedUpdate(name, form(innerForm(inner))),
    fusion: combineFusion([inner], ([f]) => form(f!)),
  };
}
