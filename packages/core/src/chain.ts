import { EmosensError } from './errors.js';
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

/** Checks that a positional chain's state has one entry per member (a corrupt or foreign state otherwise fails deep inside a member). */
function checkPositionalState(name: string, state: unknown, count: number): void {
  if (!Array.isArray(state) || state.length !== count) {
    const got = Array.isArray(state) ? `${state.length} ${state.length === 1 ? 'entry' : 'entries'}` : 'no array';
    throw new EmosensError('INVALID_STATE', `${name}: the state has ${got}, expected ${count} (one per member, in order).`);
  }
}

/** Checks that a named chain's state has exactly one entry per member name. */
function checkNamedState(name: string, state: unknown, names: readonly string[]): void {
  if (typeof state !== 'object' || state === null || Array.isArray(state)) {
    throw new EmosensError('INVALID_STATE', `${name}: the state must be an object with one entry per member (${names.join(', ')}).`);
  }
  const missing = names.filter((n) => !(n in state));
  const extra = Object.keys(state).filter((k) => !names.includes(k));
  if (missing.length > 0 || extra.length > 0) {
    const parts = [...missing.map((n) => `missing '${n}'`), ...extra.map((n) => `unexpected '${n}'`)];
    throw new EmosensError('INVALID_STATE', `${name}: the state must have one entry per member (${names.join(', ')}); ${parts.join(', ')}.`);
  }
}

function positionalChain(members: TransformList): GradientTransformation<StateValue[]> {
  const name = `chain(${members.map((m) => m.name).join(', ')})`;
  return {
    name,
    init: (params: Params) => members.map((m) => m.init(params)),
    update(updates: Updates, state: StateValue[], params: Params, context: StepContext) {
      checkPositionalState(name, state, members.length);
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
        checkPositionalState(name, state, forms.length);
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
  const name = `chain(${names.map((n) => `${n}: ${members[n]!.name}`).join(', ')})`;
  return {
    name,
    init(params: Params) {
      const state: Record<string, StateValue> = {};
      for (const n of names) state[n] = members[n]!.init(params);
      return state;
    },
    update(updates: Updates, state: Record<string, StateValue>, params: Params, context: StepContext) {
      checkNamedState(name, state, names);
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
          checkNamedState(name, state, names);
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
