import type { Tensor } from '@tensorflow/tfjs-core';
import { findCpuBackend, StepStorage } from '../internal/cpu-storage.js';
import type { TypedArrayMemory } from './typed-array-target.js';

/**
 * The cpu backend's memory for the typed-array target: tensors are JavaScript typed arrays
 * (reading them is a lookup, not a device readback); storage is written in place only when
 * this package allocated it and nothing else references it (see `StepStorage`).
 */
export function cpuMemory(): TypedArrayMemory {
  return {
    check(tensors) {
      const backend = findCpuBackend();
      if (backend === undefined) return 'the tfjs cpu backend is not registered';
      for (const t of tensors) {
        if (t.isDisposed) return 'a tensor of the step was disposed';
        if (!backend.data.has(t.dataId)) return 'a tensor of the step lives on another backend';
        const values = backend.data.get(t.dataId).values;
        const ok = t.dtype === 'bool' ? values instanceof Uint8Array : t.dtype === 'float32' && values instanceof Float32Array;
        if (!ok) return `a ${t.dtype} tensor of the step is not stored as expected (e.g. a complex or string tensor)`;
      }
      return undefined;
    },
    begin(inputs: readonly Tensor[]) {
      const backend = findCpuBackend()!;
      const storage = new StepStorage(backend, inputs);
      const valuesOf = (t: Tensor) => backend.data.get(t.dataId).values as Float32Array | Uint8Array;
      return {
        exclusive: (v) => void storage.writableVariable(v),
        writable: (t) => storage.writable(t),
        values: valuesOf,
      };
    },
  };
}
