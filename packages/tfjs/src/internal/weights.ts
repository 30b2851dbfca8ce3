// The weight list of a TransformOptimizer (what getWeights returns and setWeights
// takes): named tensors only, so tfjs-layers can save it beside the model weights.
//
//   iter                         int32 scalar, tfjs's iteration count (the tfjs name)
//   emosens/format               int32 scalar, the layout version (1)
//   emosens/skipped              int32 scalar, steps skipped for non-finite input
//   emosens/param/<i>/<name>     int32 [rank], the shape of the i-th trained variable
//   emosens/state/<path>         a tensor leaf of the transform state
//   emosens/number/<path>        a number leaf: int32 [] (an int32 value) or int32 [2]
//                                (the 64 bits of any other double, little-endian words)
//   emosens/boolean/<path>       a boolean leaf, bool scalar
//   emosens/string/<path>        a string leaf, string scalar
//
// <path> is the leaf's path from `flattenState`; <i> orders the variables as the
// optimizer first saw them, which is how a state is matched to renamed variables.
import * as tf from '@tensorflow/tfjs-core';
import { EmosensError, flattenState } from '@emosens/core';
import type { Leaf } from './state-tree.js';

/** A named tensor, as tfjs optimizers exchange weights. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

export const FORMAT_VERSION = 1;
const ITER = 'iter';
const FORMAT = 'emosens/format';
const SKIPPED = 'emosens/skipped';
const PARAM = 'emosens/param/';
const LEAF_KINDS = ['state', 'number', 'boolean', 'string'] as const;

/** A trained variable as recorded in the weights: its name when saved and its shape. */
export interface SavedParam {
  readonly name: string;
  readonly shape: readonly number[];
}

/** What a weight list decodes to. Tensors are fresh copies the caller owns. */
export interface DecodedWeights {
  readonly iterations: number;
  readonly skipped: tf.Scalar;
  readonly params: readonly SavedParam[];
  /** Leaves by path: tensors, or numbers, booleans and strings already read back. */
  readonly leaves: Map<string, Leaf>;
}

/** What the optimizer hands to {@link encodeWeights}. */
export interface EncodeInput {
  readonly iterations: number;
  readonly skipped: tf.Scalar;
  readonly params: readonly SavedParam[];
  readonly state: unknown;
}

/**
 * Lists the weights of an optimizer state. Tensor leaves and the skipped counter are
 * returned as they are (not copied); the tensors this creates are listed in `created`.
 */
export function encodeWeights(input: EncodeInput): { weights: NamedTensor[]; created: tf.Tensor[] } {
  const created: tf.Tensor[] = [];
  const make = (t: tf.Tensor): tf.Tensor => {
    created.push(t);
    return t;
  };
  const weights: NamedTensor[] = [
    { name: ITER, tensor: make(tf.scalar(input.iterations, 'int32')) },
    { name: FORMAT, tensor: make(tf.scalar(FORMAT_VERSION, 'int32')) },
    { name: SKIPPED, tensor: input.skipped },
  ];
  input.params.forEach((p, i) => {
    weights.push({ name: `${PARAM}${i}/${p.name}`, tensor: make(tf.tensor1d([...p.shape], 'int32')) });
  });
  const seen = new Set<string>();
  for (const { path, value } of flattenState(input.state)) {
    if (seen.has(path)) {
      throw new EmosensError(
        'INVALID_STATE',
        `getWeights: two state leaves have the path '${path}' (a key contains '/'); rename the key to save this state.`,
      );
    }
    seen.add(path);
    if (typeof value === 'number') weights.push({ name: `emosens/number/${path}`, tensor: make(encodeNumber(value)) });
    else if (typeof value === 'boolean') weights.push({ name: `emosens/boolean/${path}`, tensor: make(tf.scalar(value, 'bool')) });
    else if (typeof value === 'string') weights.push({ name: `emosens/string/${path}`, tensor: make(tf.scalar(value, 'string')) });
    else weights.push({ name: `emosens/state/${path}`, tensor: value });
  }
  return { weights, created };
}

/**
 * Reads a weight list written by {@link encodeWeights}. Throws `INVALID_STATE`, naming
 * the weight, when the list is not an emosens optimizer's.
 */
export async function decodeWeights(weights: readonly NamedTensor[]): Promise<DecodedWeights> {
  if (!Array.isArray(weights)) {
    throw new EmosensError('INVALID_STATE', 'setWeights: expected an array of {name, tensor} weights.');
  }
  const byName = new Map<string, tf.Tensor>();
  for (const w of weights) {
    if (typeof w?.name !== 'string' || w.tensor === undefined || w.tensor === null) {
      throw new EmosensError('INVALID_STATE', 'setWeights: every weight must be a {name, tensor} pair.');
    }
    byName.set(w.name, w.tensor);
  }
  const format = byName.get(FORMAT);
  if (format === undefined) {
    throw new EmosensError(
      'INVALID_STATE',
      `setWeights: no '${FORMAT}' weight; these are not the weights of an EmosensOptimizer ` +
        '(getWeights of a TransformOptimizer writes it).',
    );
  }
  const version = (await format.data())[0];
  if (version !== FORMAT_VERSION) {
    throw new EmosensError('INVALID_STATE', `setWeights: weight layout version ${String(version)} is not supported (expected ${FORMAT_VERSION}).`);
  }
  const iter = byName.get(ITER);
  const skipped = byName.get(SKIPPED);
  if (iter === undefined || skipped === undefined || skipped.size !== 1) {
    throw new EmosensError('INVALID_STATE', `setWeights: expected the weights '${ITER}' and '${SKIPPED}' (scalars).`);
  }

  const params: SavedParam[] = [];
  const leaves = new Map<string, Leaf>();
  const tensors: tf.Tensor[] = [];
  try {
    for (const [name, tensor] of byName) {
      if (name === ITER || name === FORMAT || name === SKIPPED) continue;
      if (name.startsWith(PARAM)) {
        const rest = name.slice(PARAM.length);
        const slash = rest.indexOf('/');
        const index = Number(rest.slice(0, slash));
        if (slash < 1 || !Number.isInteger(index) || tensor.rank !== 1) {
          throw new EmosensError('INVALID_STATE', `setWeights: malformed parameter entry '${name}'.`);
        }
        params[index] = { name: rest.slice(slash + 1), shape: Array.from(await tensor.data()) };
        continue;
      }
      const kind = LEAF_KINDS.find((k) => name.startsWith(`emosens/${k}/`));
      if (kind === undefined) {
        throw new EmosensError(
          'INVALID_STATE',
          `setWeights: unexpected weight '${name}'; an EmosensOptimizer's weights are 'iter' and 'emosens/...' entries.`,
        );
      }
      const path = name.slice(`emosens/${kind}/`.length);
      if (kind === 'state') {
        const copy = tf.keep(tf.clone(tensor));
        tensors.push(copy);
        leaves.set(path, copy);
      } else if (kind === 'number') {
        leaves.set(path, decodeNumber(tensor, await tensor.data()));
      } else if (kind === 'boolean') {
        leaves.set(path, (await tensor.data())[0] !== 0);
      } else {
        leaves.set(path, String((await tensor.data())[0]));
      }
    }
    for (let i = 0; i < params.length; i += 1) {
      if (params[i] === undefined) {
        throw new EmosensError('INVALID_STATE', `setWeights: the parameter entry ${PARAM}${i}/... is missing.`);
      }
    }
  } catch (error) {
    tf.dispose(tensors);
    throw error;
  }
  const iterations = Number((await iter.data())[0]);
  if (iter.size !== 1 || !Number.isInteger(iterations) || iterations < 0) {
    tf.dispose(tensors);
    throw new EmosensError(
      'INVALID_STATE',
      `setWeights: '${ITER}' must be a scalar holding a whole number of steps >= 0, got ${iter.size === 1 ? String(iterations) : `shape [${iter.shape.join(', ')}]`}.`,
    );
  }
  const skippedCopy = tf.keep(tf.tidy(() => tf.cast(tf.reshape(skipped, []), 'int32'))) as tf.Scalar;
  return { iterations, skipped: skippedCopy, params, leaves };
}

function encodeNumber(x: number): tf.Tensor {
  if (Number.isInteger(x) && !Object.is(x, -0) && x >= -(2 ** 31) && x < 2 ** 31) return tf.scalar(x, 'int32');
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x, true);
  return tf.tensor1d([view.getInt32(0, true), view.getInt32(4, true)], 'int32');
}

function decodeNumber(tensor: tf.Tensor, values: ArrayLike<unknown>): number {
  if (tensor.dtype === 'int32' && tensor.size === 2) {
    const view = new DataView(new ArrayBuffer(8));
    view.setInt32(0, Number(values[0]), true);
    view.setInt32(4, Number(values[1]), true);
    return view.getFloat64(0, true);
  }
  if (tensor.size !== 1) {
    throw new EmosensError('INVALID_STATE', `setWeights: a number leaf must be a scalar or int32 [2], got shape [${tensor.shape.join(', ')}].`);
  }
  return Number(values[0]);
}
