import { dispose, type Tensor } from '@tensorflow/tfjs-core';
import { EmosensError } from './errors.js';
import { isTensor } from './internal/is-tensor.js';
import type { StateValue } from './types.js';


/** One leaf of a state tree, addressed by its path (keys and indices joined with `/`). */
export interface StateLeaf {
  readonly path: string;
  readonly value: Tensor | number | boolean | string;
}

/** Lists the leaves of a state tree in a fixed order (object keys sorted), with their paths. */
export function flattenState(state: unknown, prefix = ''): StateLeaf[] {
  const out: StateLeaf[] = [];
  const visit = (value: unknown, path: string): void => {
    if (isTensor(value) || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') {
      out.push({ path, value });
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, path ? `${path}/${i}` : String(i)));
    } else if (typeof value === 'object' && value !== null) {
      for (const key of Object.keys(value).sort()) {
        visit((value as Record<string, unknown>)[key], path ? `${path}/${key}` : key);
      }
    } else if (value !== undefined) {
      throw new EmosensError('INVALID_STATE', `state at '${path || '(root)'}' is not plain data (got ${typeof value}).`);
    }
  };
  visit(state, prefix);
  return out;
}

/**
 * Rebuilds a state tree with the shape of `template`, taking each leaf from `leaves`
 * by path. Every leaf of the template must be present with a matching kind (and shape,
 * for tensors).
 */
export function unflattenState<S>(template: S, leaves: ReadonlyMap<string, StateLeaf['value']>): S {
  const build = (value: unknown, path: string): unknown => {
    if (isTensor(value) || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') {
      const next = leaves.get(path);
      if (next === undefined) {
        throw new EmosensError('INVALID_STATE', `restoring state: no value for '${path}'.`);
      }
      if (isTensor(value)) {
        if (!isTensor(next) || next.shape.join(',') !== value.shape.join(',')) {
          throw new EmosensError(
            'INVALID_STATE',
            `restoring state: '${path}' must be a tensor of shape [${value.shape.join(', ')}].`,
          );
        }
      } else if (typeof next !== typeof value) {
        throw new EmosensError('INVALID_STATE', `restoring state: '${path}' must be a ${typeof value}.`);
      }
      return next;
    }
    if (Array.isArray(value)) return value.map((v, i) => build(v, path ? `${path}/${i}` : String(i)));
    if (typeof value === 'object' && value !== null) {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        out[key] = build((value as Record<string, unknown>)[key], path ? `${path}/${key}` : key);
      }
      return out;
    }
    return value;
  };
  return build(template, '') as S;
}

/**
 * Checks that `state` has the layout of `template` (what the transform's `init` makes):
 * the same leaf paths, each of the same kind, tensors of the same dtype and size. Throws
 * `INVALID_STATE`, prefixed with `owner`, naming the first missing, extra or mismatched
 * leaf. The values are not read: a restore that refuses NaN reads them itself
 * ({@link findNaNLeaf}).
 */
export function checkStateLayout(template: unknown, state: unknown, owner: string): void {
  const expected = new Map(flattenState(template).map((l) => [l.path, l.value]));
  const got = new Map(flattenState(state).map((l) => [l.path, l.value]));
  for (const [path, value] of expected) {
    const next = got.get(path);
    if (next === undefined) throw new EmosensError('INVALID_STATE', `${owner}: the state has no value for leaf '${path}'.`);
    if (isTensor(value)) {
      // the same size is enough (a step count of shape [1] where init makes [] is a layout the targets take)
      if (!isTensor(next) || next.dtype !== value.dtype || next.size !== value.size) {
        throw new EmosensError('INVALID_STATE', `${owner}: state leaf '${path}' must be a ${value.dtype} tensor of shape [${value.shape.join(', ')}] (or another shape of ${value.size} elements).`);
      }
      if (next.isDisposed) throw new EmosensError('INVALID_STATE', `${owner}: state leaf '${path}' has been disposed.`);
    } else if (typeof next !== typeof value || isTensor(next)) {
      throw new EmosensError('INVALID_STATE', `${owner}: state leaf '${path}' must be a ${typeof value}.`);
    }
  }
  const extra = [...got.keys()].filter((path) => !expected.has(path));
  if (extra.length > 0) {
    throw new EmosensError('INVALID_STATE', `${owner}: the state holds leaves the transform does not have: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}.`);
  }
}

/**
 * The path of the first leaf of `state` holding NaN (a tensor with a NaN entry, or a NaN
 * number), or `undefined`; reads tensor leaves back asynchronously. A restore refuses NaN
 * and only NaN: ±Infinity is a state an optimizer can legitimately reach (a plateau
 * schedule's `best` starts at Infinity; a second moment overflows to it after a huge
 * finite gradient, as in torch), while a NaN state turns every later step's weights to NaN.
 */
export async function findNaNLeaf(state: unknown): Promise<string | undefined> {
  for (const { path, value } of flattenState(state)) {
    if (typeof value === 'number' && Number.isNaN(value)) return path;
    if (isTensor(value) && (value.dtype === 'float32' || value.dtype === 'complex64')) {
      const data = await value.data();
      for (let i = 0; i < data.length; i += 1) if (Number.isNaN(data[i])) return path;
    }
  }
  return undefined;
}

/** Every distinct tensor in a tree of plain data. */
export function collectTensors(...trees: unknown[]): Set<Tensor> {
  const found = new Set<Tensor>();
  const visit = (value: unknown): void => {
    if (isTensor(value)) found.add(value);
    else if (Array.isArray(value)) value.forEach(visit);
    else if (typeof value === 'object' && value !== null) Object.values(value).forEach(visit);
  };
  trees.forEach(visit);
  return found;
}

/**
 * Disposes the tensors of `old` that are not also held by one of `keep`: how a caller
 * releases a replaced state without freeing tensors the new state carried over.
 */
export function disposeReplaced(old: unknown, ...keep: unknown[]): void {
  const kept = collectTensors(...keep);
  const stale = [...collectTensors(old)].filter((t) => !kept.has(t) && !t.isDisposed);
  dispose(stale);
}

/** Disposes every tensor in a state tree. */
export function disposeState(state: StateValue | undefined): void {
  dispose([...collectTensors(state)]);
}

export { isTensor };
