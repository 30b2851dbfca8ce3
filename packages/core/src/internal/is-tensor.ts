import type { Tensor } from '@tensorflow/tfjs-core';

/**
 * The one tensor check of emosens: an object with a `dataId`, a `shape` and a `dtype`.
 * Duck-typed rather than `instanceof tf.Tensor`, so that a tensor made by a second copy
 * of tfjs-core (two installed versions, a bundle) still counts. Exported by the package as
 * `isTensor`; every package uses that one.
 */
export function isTensor(value: unknown): value is Tensor {
  return typeof value === 'object' && value !== null && 'dataId' in value && 'shape' in value && 'dtype' in value;
}

/**
 * Says what a value is, for "got ..." in error messages: numbers, booleans, null and
 * undefined as written (`NaN`, `true`, `null`); anything else by its type and, for a
 * short string, its text (`a string ('0.01')`, `an array`, `a tensor`, `an object`).
 */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return `a boolean (${value})`;
  if (typeof value === 'string') return value.length <= 40 ? `a string ('${value}')` : 'a string';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (Array.isArray(value)) return 'an array';
  if (isTensor(value)) return 'a tensor';
  return 'an object';
}
