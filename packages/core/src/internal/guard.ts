// The non-finite guard of a composed step, computed on the device: one bool scalar for
// the whole step, and selects that apply it without reading it back (../finite-guard.ts).
import * as tf from '@tensorflow/tfjs-core';
import { allFinite, selectWhere } from '../finite-guard.js';
import { isTensor } from './is-tensor.js';
import type { Loss, Signals, StateValue, Updates } from '../types.js';


function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isTensor(value);
}

function sameKind(a: tf.Tensor, b: tf.Tensor): boolean {
  return a.dtype === b.dtype && a.dtype !== 'string' && a.shape.join(',') === b.shape.join(',');
}

/**
 * Maps every tensor leaf of `next` through `fn(next, previous)`, where `previous` is the
 * leaf at the same place in `previous` (or `undefined`). Other leaves are kept from `next`.
 */
function zipTensors<T>(next: T, previous: unknown, fn: (next: tf.Tensor, previous: unknown) => tf.Tensor): T {
  const visit = (value: unknown, old: unknown): unknown => {
    if (isTensor(value)) return fn(value, old);
    if (Array.isArray(value)) return value.map((v, i) => visit(v, Array.isArray(old) ? old[i] : undefined));
    if (isPlainObject(value)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = visit(v, isPlainObject(old) ? old[k] : undefined);
      return out;
    }
    return value;
  };
  return visit(next, previous) as T;
}

/** What {@link guardStep} returns: every tensor in it is new, except leaves passed through unchanged. */
export interface GuardedStep<S> {
  readonly state: S;
  readonly signals: Partial<Signals>;
  /** The step's all-finite flag (bool scalar). */
  readonly ok: tf.Scalar;
}

/**
 * Applies a composed step's result under the all-finite guard, with no readback:
 *
 * - each parameter with an update becomes `where(ok, p + u, p)` (selecting the new value,
 *   rather than adding `where(ok, u, 0)`, keeps a parameter entry of `-0` exact: `-0 + 0`
 *   is `+0`);
 * - each tensor leaf of the new state becomes `where(ok, new, old)` against the leaf at
 *   the same path of the old state (leaves passed through unchanged are kept as is);
 * - each signal that is a leaf of the new state gets that leaf's guarded value; another
 *   signal is selected against the same-named tensor of `previousSignals`, when given.
 *
 * Number (and other non-tensor) leaves come from the new state: they advance even on a
 * skipped step, since a JavaScript value cannot be chosen by a device value unread.
 * The caller releases what the old state, the transform's result and the previous
 * signals hold that the returned trees do not.
 */
export function guardStep<S extends StateValue>(
  params: Readonly<Record<string, tf.Variable>>,
  result: { readonly updates: Updates; readonly state: S; readonly signals: Partial<Signals> },
  oldState: S,
  loss: Loss | undefined,
  grads: Updates,
  previousSignals: Partial<Signals> | undefined,
): GuardedStep<S> {
  return tf.tidy(() => {
    const ok = allFinite(loss, grads);
    const conditions = new Map<string, tf.Tensor>();
    for (const [name, u] of Object.entries(result.updates)) {
      const p = params[name];
      if (p !== undefined) p.assign(selectWhere(ok, tf.add(p, u), p, conditions));
    }
    const chosen = new Map<tf.Tensor, tf.Tensor>();
    const choose = (next: tf.Tensor, previous: unknown): tf.Tensor => {
      if (!isTensor(previous) || previous === next || !sameKind(previous, next)) return next;
      let out = chosen.get(next);
      if (out === undefined) {
        out = selectWhere(ok, next, previous, conditions);
        chosen.set(next, out);
      }
      return out;
    };
    const state = zipTensors(result.state, oldState, choose);
    const signals: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(result.signals as Record<string, unknown>)) {
      if (!isTensor(value)) signals[name] = value;
      else signals[name] = chosen.get(value) ?? choose(value, (previousSignals as Record<string, unknown> | undefined)?.[name]);
    }
    return { state, signals, ok } as unknown as tf.TensorContainer;
  }) as unknown as GuardedStep<S>;
}
