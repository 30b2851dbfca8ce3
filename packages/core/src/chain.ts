import { combineFusion, type SymMap, type SymTree } from './fusion/form.js';
import type { GradientTransformation, Params, StateOf, StateValue, StepContext, Updates } from './types.js';

/** Any list of transforms: the members of a positional chain, `chain(a, b, c)`. */
export type TransformList = readonly GradientTransformation<any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any
/** Transforms keyed by name: the members of a named chain, `chain({ a, b })`, and of `partition`. */
export type TransformRecord = Readonly<Record<string, GradientTransformation<any>>>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The state of a positional chain: one entry per member, in order. */
export type ChainState<T extends TransformList> = { readonly [K in keyof T]: StateOf<T[K]> };
/** The state of a named chain: one entry per member name. */
export type NamedChainState<T extends TransformRecord> = { readonly [K in keyof T]: StateOf<T[K]> };

/**
 * Composes transforms: each member's output updates are the next member's input.
 * Members share the step context (so a signal published by one is readable by the
 * ones after it) and keep their states apart.
 *
 * Positional: `chain(a, b, c)`, state `[sa, sb, sc]`.
 * Named: `chain({ emotion: a, moments: b })`, state `{ emotion: sa, moments: sb }`,
 * which makes the state self-describing when saved.
 */
export function chain<T extends TransformList>(...members: T): GradientTransformation<ChainState<T>>;
export function chain<T extends TransformRecord>(members: T): GradientTransformation<NamedChainState<T>>;
export function chain(...args: unknown[]): GradientTransformation<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const first = args[0];
  if (args.length === 1 && first && typeof first === 'object' && !('update' in first)) {
    return namedChain(first as TransformRecord);
  }
  return positionalChain(args as unknown as TransformList);
}

function positionalChain(members: TransformList): GradientTransformation<StateValue[]> {
  return {
    name: `chain(${members.map((m) => m.name).join(', ')})`,
    init: (params: Params) => members.map((m) => m.init(params)),
    update(updates: Updates, state: StateValue[], params: Params, context: StepContext) {
      let current = updates;
      const next: StateValue[] = [];
      members.forEach((member, i) => {
        const result = member.update(current, state[i], params, context);
        current = result.updates;
        next.push(result.state);
      });
      return { updates: current, state: next };
    },
    fusion: combineFusion(members, (forms) => ({
      update(updates, state, params, context) {
        let current: SymMap = updates;
        const next: SymTree[] = [];
        forms.forEach((form, i) => {
          const result = form.update(current, (state as readonly SymTree[])[i]!, params, context);
          current = result.updates;
          next.push(result.state);
        });
        return { updates: current, state: next };
      },
    })),
  } as unknown as GradientTransformation<StateValue[]>;
}

function namedChain(members: TransformRecord): GradientTransformation<Record<string, StateValue>> {
  const names = Object.keys(members);
  return {
    name: `chain(${names.map((n) => `${n}: ${members[n]!.name}`).join(', ')})`,
    init(params: Params) {
      const state: Record<string, StateValue> = {};
      for (const n of names) state[n] = members[n]!.init(params);
      return state;
    },
    update(updates: Updates, state: Record<string, StateValue>, params: Params, context: StepContext) {
      let current = updates;
      const next: Record<string, StateValue> = {};
      for (const n of names) {
        const result = members[n]!.update(current, state[n], params, context);
        current = result.updates;
        next[n] = result.state;
      }
      return { updates: current, state: next };
    },
    fusion: combineFusion(
      names.map((n) => members[n]!),
      (forms) => ({
        update(updates, state, params, context) {
          let current: SymMap = updates;
          const next: Record<string, SymTree> = {};
          names.forEach((n, i) => {
            const result = forms[i]!.update(current, (state as Readonly<Record<string, SymTree>>)[n]!, params, context);
            current = result.updates;
            next[n] = result.state;
          });
          return { updates: current, state: next };
        },
      }),
    ),
  } as unknown as GradientTransformation<Record<string, StateValue>>;
}
