import { isTensor, type Loss, type Updates } from '@emosens/core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { readValues } from './cpu-storage.js';

/** Whether every entry of `values` is finite (`x - x` is NaN exactly for NaN and ±Infinity). */
function finiteArray(values: Float32Array): boolean {
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const x = values[i]!;
    if (x - x !== 0) return false;
  }
  return true;
}

/**
 * The `skipNonFinite` check of the cpu kernels: whether the loss and every gradient are
 * finite, read from the cpu backend's memory (typed-array lookups, no readback, nothing
 * allocated). A number loss is checked as the float32 value a step uses.
 */
export function inputsFinite(backend: MathBackendCPU, loss: Loss | undefined, grads: Updates): boolean {
  if (typeof loss === 'number' && !Number.isFinite(Math.fround(loss))) return false;
  if (isTensor(loss) && !finiteArray(readValues(backend, loss))) return false;
  for (const g of Object.values(grads)) if (!finiteArray(readValues(backend, g))) return false;
  return true;
}
