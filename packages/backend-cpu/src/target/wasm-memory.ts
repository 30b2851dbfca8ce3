import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import type { TypedArrayMemory } from './typed-array-target.js';

/** The parts of tfjs-backend-wasm's `BackendWasm` this memory uses. */
interface WasmBackend {
  wasm?: { asm?: { memory?: unknown } };
  write(values: null, shape: number[], dtype: 'float32'): object;
  dataIdMap: { has(dataId: object): boolean; get(dataId: object): { dtype: string } | undefined };
  refCount(dataId: object): number;
  typedArrayFromHeap(info: { shape: number[]; dtype: string; dataId: object }): Float32Array | Uint8Array | Int32Array;
}

/** Whether this engine runs WebAssembly SIMD: a one-function module using `f32x4.splat` validates. */
const SIMD_SUPPORTED =
  typeof WebAssembly === 'object' &&
  WebAssembly.validate(
    Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 11, 1, 9, 0, 67, 0, 0, 0, 0, 253, 19, 11]),
  );

function findWasmBackend(): WasmBackend | undefined {
  const b = tf.findBackend('wasm') as unknown as Partial<WasmBackend> | null;
  return b && typeof b.typedArrayFromHeap === 'function' ? (b as WasmBackend) : undefined;
}

/**
 * The wasm backend's memory for the typed-array target: tensors live in the wasm module's
 * heap and are read and written through typed-array views of it (made anew each step, after
 * any allocation, since the heap's buffer is replaced when it grows). Storage is written in
 * place when the backend's reference count says nothing else shares it (wasm copies on
 * `tf.tensor(array)` and `slice`, so the count is the whole story); otherwise it is copied
 * once, and the copy is written from then on. Parameters get new storage every step (see
 * `freshParameters`).
 */
export function wasmMemory(options: { simd?: boolean } = {}): TypedArrayMemory {
  const simd = options.simd ?? true;
  return {
    // tfjs-backend-wasm's matrix products cache XNNPACK operators with the weights packed,
    // keyed by the weights' storage: a parameter written in place would be read stale by
    // the next forward pass. So parameters get new storage every step (written by the pass
    // itself, no copy); the old storage goes with the variable's assign, its operator with it.
    freshParameters: true,
    simdMemory() {
      if (!simd || !SIMD_SUPPORTED) return undefined;
      const memory = findWasmBackend()?.wasm?.asm?.memory;
      return memory instanceof WebAssembly.Memory ? memory : undefined;
    },
    check(tensors) {
      const backend = findWasmBackend();
      if (backend === undefined) return 'the tfjs wasm backend is not registered';
      for (const t of tensors) {
        if (t.isDisposed) return 'a tensor of the step was disposed';
        if (!backend.dataIdMap.has(t.dataId)) return 'a tensor of the step lives on another backend';
        if (t.dtype !== 'float32' && t.dtype !== 'bool') return `a tensor of the step has dtype ${t.dtype}`;
      }
      return undefined;
    },
    begin(inputs: readonly Tensor[]) {
      const backend = findWasmBackend()!;
      const readOnly = new Set<object>(inputs.map((t) => t.dataId));
      const claimed = new Set<object>();
      const exclusive = (dataId: object) => backend.refCount(dataId) === 1 && !readOnly.has(dataId) && !claimed.has(dataId);
      const copyOf = (t: Tensor): Tensor => tf.tensor(backend.typedArrayFromHeap(t).slice(), t.shape, t.dtype);
      return {
        exclusive(v: Variable) {
          if (!exclusive(v.dataId)) {
            const fresh = copyOf(v);
            v.assign(fresh);
            fresh.dispose();
          }
          claimed.add(v.dataId);
        },
        allocate(v: Variable) {
          // malloc'd heap storage, not initialised: the pass writes every element
          const dataId = backend.write(null, [...v.shape], 'float32');
          const t = tf.engine().makeTensorFromDataId(dataId, [...v.shape], 'float32', backend as unknown as tf.KernelBackend);
          claimed.add(t.dataId);
          return t;
        },
        writable(t: Tensor) {
          const out = exclusive(t.dataId) ? t : copyOf(t);
          claimed.add(out.dataId);
          return out;
        },
        values: (t: Tensor) => backend.typedArrayFromHeap(t) as Float32Array | Uint8Array,
      };
    },
  };
}
