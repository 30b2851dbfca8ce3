import { EmosensError } from '@emosens/core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { Tensor } from '@tensorflow/tfjs-core';
import { readValues, type StepStorage } from './cpu-storage.js';
import { f } from './float32.js';

/**
 * The value of a step count (`emotion/count`, an Adam block's `count`: a float32 scalar
 * tensor, as the shared plan checks), read from the cpu backend's memory (a lookup, not a
 * readback) before the step writes anything. A value that is not a non-negative integer is
 * refused with `INVALID_STATE`; `what` names the count in the message.
 */
export function readStepCount(backend: MathBackendCPU, count: Tensor, kernel: string, what: string): number {
  const n = readValues(backend, count)[0]!;
  if (!Number.isInteger(n) || n < 0) {
    throw new EmosensError('INVALID_STATE', `${kernel}: ${what} must be a non-negative integer (got ${n}).`);
  }
  return n;
}

/**
 * Writes `count + 1` into the count's storage (rounded to float32, as `tf.add(count, 1)`
 * stores it), in place where that is safe (see `StepStorage.writable`).
 */
export function advanceStepCount(storage: StepStorage, count: Tensor, value: number): void {
  storage.values(storage.writable(count))[0] = f(value + 1);
}
