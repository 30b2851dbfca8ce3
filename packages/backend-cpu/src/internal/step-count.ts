import type { StateValue } from '@emosens/core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { Scalar } from '@tensorflow/tfjs-core';
import { readValues, type StepStorage } from './cpu-storage.js';
import { f } from './float32.js';
import type { StateReader } from './state-access.js';

/**
 * A step count of the state (`emotion/count`, an Adam block's `count`): a float32 scalar
 * tensor, with its value read from the cpu backend's memory (a lookup, not a readback)
 * before the step writes anything.
 */
export interface StepCount {
  readonly tensor: Scalar;
  /** Steps counted so far, a non-negative integer. */
  readonly value: number;
}

/** Reads and checks a count leaf: a float32 scalar tensor holding a non-negative integer. */
export function readStepCount(backend: MathBackendCPU, value: StateValue | undefined, path: string, read: StateReader): StepCount {
  const tensor = read.tensor(value, path, []) as Scalar;
  if (tensor.dtype !== 'float32') read.fail(path, `a float32 scalar step count (got ${tensor.dtype})`);
  const n = readValues(backend, tensor)[0]!;
  if (!Number.isInteger(n) || n < 0) read.fail(path, `a step count, a non-negative integer (got ${n})`);
  return { tensor, value: n };
}

/**
 * Writes `count + 1` into the count's storage (rounded to float32, as `tf.add(count, 1)`
 * stores it), in place where that is safe (see `StepStorage.writable`), and returns the
 * tensor written: the same tensor from the second step on.
 */
export function advanceStepCount(storage: StepStorage, count: StepCount): Scalar {
  const next = storage.writable(count.tensor);
  storage.values(next)[0] = f(count.value + 1);
  return next;
}
