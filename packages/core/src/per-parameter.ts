import type { Tensor } from '@tensorflow/tfjs-core';
import type { Params, StateValue, Updates } from './types.js';

/** A state kept per parameter name. */
export type PerParameter<S extends StateValue> = Readonly<Record<string, S>>;

/** Builds a per-parameter state: `fn(param, name)` for each parameter. */
export function initPerParameter<S extends StateValue>(
  params: Params,
  fn: (param: Tensor, name: string) => S,
): PerParameter<S> {
  const state: Record<string, S> = {};
  for (const [name, p] of Object.entries(params)) state[name] = fn(p, name);
  return state;
}

/**
 * Runs `fn` for each parameter that has an update this step, and returns the new
 * updates and per-parameter state. Parameters without an update keep their state.
 */
export function updatePerParameter<S extends StateValue>(
  updates: Updates,
  state: PerParameter<S>,
  params: Params,
  fn: (update: Tensor, state: S, param: Tensor, name: string) => { update: Tensor; state: S },
): { updates: Updates; state: PerParameter<S> } {
  const nextUpdates: Record<string, Tensor> = {};
  const nextState: Record<string, S> = { ...state };
  for (const [name, u] of Object.entries(updates)) {
    const r = fn(u, state[name]!, params[name]!, name);
    nextUpdates[name] = r.update;
    nextState[name] = r.state;
  }
  return { updates: nextUpdates, state: nextState };
}
