// Tree helpers the optimizer needs on top of @emosens/core's flattenState /
// unflattenState: keeping a state alive across tfjs scopes, merging the state of new
// variables into an existing one, and walking leaves with their path segments (so a
// path can be rewritten per segment when variables are renamed).
import { clone, keep, type Tensor } from '@tensorflow/tfjs-core';
import { isTensor, type StateValue } from '@emosens/core';

/** The kinds of leaf a state tree can hold. */
export type Leaf = Tensor | number | boolean | string;

export function isLeaf(value: unknown): value is Leaf {
  return isTensor(value) || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isTensor(value);
}

/**
 * Marks every tensor of a tree as kept, so that an enclosing `tf.tidy` (tfjs-layers runs
 * `minimize` inside one) does not release the optimizer's state when it ends.
 */
export function keepTree(tree: unknown): void {
  const visit = (value: unknown): void => {
    if (isTensor(value)) keep(value);
    else if (Array.isArray(value)) value.forEach(visit);
    else if (isPlainObject(value)) Object.values(value).forEach(visit);
  };
  visit(tree);
}

/** Returns `tree` with every tensor in `replace` swapped for a clone (other leaves shared). */
export function detachTensors<T>(tree: T, replace: ReadonlySet<Tensor>): T {
  if (replace.size === 0) return tree;
  const visit = (value: unknown): unknown => {
    if (isTensor(value)) return replace.has(value) ? clone(value) : value;
    if (Array.isArray(value)) return value.map(visit);
    if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, visit(v)]));
    return value;
  };
  return visit(tree) as T;
}

/**
 * Merges the state of newly seen variables into an existing state: objects take the
 * union of their keys, arrays merge element by element, and where both trees hold a
 * leaf the existing one wins (a shared counter or loss average is not reset). The
 * caller releases the tensors of `added` that the result does not use.
 */
export function mergeState(existing: StateValue, added: StateValue): StateValue {
  if (Array.isArray(existing) && Array.isArray(added)) {
    const length = Math.max(existing.length, added.length);
    return Array.from({ length }, (_, i) =>
      i < existing.length && i < added.length
        ? mergeState(existing[i] as StateValue, added[i] as StateValue)
        : ((i < existing.length ? existing[i] : added[i]) as StateValue),
    );
  }
  if (isPlainObject(existing) && isPlainObject(added)) {
    const out: Record<string, StateValue> = { ...(existing as Record<string, StateValue>) };
    for (const [key, value] of Object.entries(added as Record<string, StateValue>)) {
      const current = out[key];
      out[key] = current === undefined ? value : mergeState(current, value);
    }
    return out;
  }
  return existing;
}

/** One leaf with the keys and indices that lead to it (joined with `/`, they give its path). */
export interface LeafAt {
  readonly segments: readonly string[];
  readonly value: Leaf;
}

/**
 * Lists the leaves of a tree with their path segments, in the same order and with the
 * same paths (once joined with `/`) as `flattenState` of @emosens/core.
 */
export function leavesWithSegments(tree: unknown): LeafAt[] {
  const out: LeafAt[] = [];
  const visit = (value: unknown, segments: string[]): void => {
    if (isLeaf(value)) out.push({ segments, value });
    else if (Array.isArray(value)) value.forEach((v, i) => visit(v, [...segments, String(i)]));
    else if (isPlainObject(value)) {
      for (const key of Object.keys(value).sort()) visit(value[key], [...segments, key]);
    }
  };
  visit(tree, []);
  return out;
}
