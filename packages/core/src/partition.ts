import type { Tensor } from '@tensorflow/tfjs-core';
import { EmosensError } from './errors.js';
import { combineFusion, type SymMap, type SymTree } from './fusion/form.js';
import type { Sym } from './fusion/graph.js';
import type { TransformRecord } from './chain.js';
import type { GradientTransformation, Params, StateOf, StepContext, Updates } from './types.js';

/** The state of a partition: each label's transform state, over its own parameters. */
export type PartitionState<T extends TransformRecord> = { readonly [K in keyof T]: StateOf<T[K]> };

/**
 * Routes each parameter to one of several transforms by label (optax's `multi_transform`).
 * `labelOf(name, param)` must return one of the keys of `transforms`; each transform
 * sees only its own parameters and updates, and all share the step context.
 *
 * ```ts
 * // factored moments for matrices, dense moments for vectors
 * partition({ factored: scaleByFactoredRms(), dense: scaleByRms() },
 *           (_, p) => (p.rank >= 2 ? 'factored' : 'dense'));
 * ```
 */
export function partition<T extends TransformRecord>(
  transforms: T,
  labelOf: (name: string, param: Tensor) => keyof T & string,
): GradientTransformation<PartitionState<T>> {
  const labels = Object.keys(transforms);
  const name = `partition(${labels.map((l) => `${l}: ${transforms[l]!.name}`).join(', ')})`;

  const split = <M extends Readonly<Record<string, Tensor>>>(map: M, params: Params): Record<string, Record<string, Tensor>> => {
    const groups: Record<string, Record<string, Tensor>> = {};
    for (const l of labels) groups[l] = {};
    for (const [key, t] of Object.entries(map)) {
      const label = labelOf(key, params[key] ?? t);
      const group = groups[label];
      if (group === undefined) {
        throw new EmosensError(
          'INVALID_OPTION',
          `${name}: labelOf returned '${String(label)}' for parameter '${key}'; expected one of: ${labels.join(', ')}.`,
        );
      }
      group[key] = t;
    }
    return groups;
  };

  return {
    name,
    init(params: Params) {
      const groups = split(params, params);
      const state: Record<string, unknown> = {};
      for (const l of labels) state[l] = transforms[l]!.init(groups[l]!);
      return state as PartitionState<T>;
    },
    update(updates: Updates, state: PartitionState<T>, params: Params, context: StepContext) {
      const groupedUpdates = split(updates, params);
      const groupedParams = split(params, params);
      const out: Record<string, Tensor> = {};
      const next: Record<string, unknown> = {};
      for (const l of labels) {
        const r = transforms[l]!.update(groupedUpdates[l]!, (state as Record<string, unknown>)[l], groupedParams[l]!, context);
        Object.assign(out, r.updates);
        next[l] = r.state;
      }
      return { updates: out, state: next as PartitionState<T> };
    },
    fusion: combineFusion(
      labels.map((l) => transforms[l]!),
      (forms) => ({
        update(updates, state, params, context) {
          const group = (map: SymMap): Record<string, Record<string, Sym>> => {
            const groups: Record<string, Record<string, Sym>> = {};
            for (const l of labels) groups[l] = {};
            for (const [key, v] of Object.entries(map)) {
              const label = labelOf(key, context.parameter(key));
              const g = groups[label];
              if (g === undefined) {
                throw new EmosensError('INVALID_OPTION', `${name}: labelOf returned '${String(label)}' for parameter '${key}'; expected one of: ${labels.join(', ')}.`);
              }
              g[key] = v;
            }
            return groups;
          };
          const groupedUpdates = group(updates);
          const groupedParams = group(params);
          const out: Record<string, Sym> = {};
          const next: Record<string, SymTree> = {};
          labels.forEach((l, i) => {
            const r = forms[i]!.update(groupedUpdates[l]!, (state as Readonly<Record<string, SymTree>>)[l]!, groupedParams[l]!, context);
            Object.assign(out, r.updates);
            next[l] = r.state;
          });
          return { updates: out, state: next };
        },
      }),
    ),
  };
}
