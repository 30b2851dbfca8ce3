import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';

type DataId = object;
type TypedArray = Float32Array | Int32Array | Uint8Array;

/**
 * The storage this package allocated itself (by dataId). Only such storage is ever
 * written in place: a tensor the kernels did not allocate may be a view of memory that
 * something else holds (on the cpu backend a contiguous `tf.slice` returns a
 * `subarray` of its input, and `tf.tensor(typedArray)` keeps the caller's array),
 * which the backend's reference count cannot see. So the first step copies each
 * parameter and state tensor once, and later steps write in place.
 */
const owned = new WeakSet<DataId>();

/** The cpu backend, or undefined when it is not registered. */
export function findCpuBackend(): MathBackendCPU | undefined {
  return tf.findBackend('cpu') as MathBackendCPU | null ?? undefined;
}

/** Whether `t` lives in the cpu backend's memory, with the dtype given. */
export function isCpuTensor(backend: MathBackendCPU, t: Tensor, dtype: 'float32' | 'bool' = 'float32'): boolean {
  if (t.isDisposed || t.dtype !== dtype || !backend.data.has(t.dataId)) return false;
  const values = backend.data.get(t.dataId).values;
  return dtype === 'float32' ? values instanceof Float32Array : values instanceof Uint8Array;
}

/**
 * The values of a tensor in the cpu backend's memory, read without `dataSync`: on the
 * cpu backend the data already is a JavaScript typed array, so this is a lookup and not
 * a device readback (which is why the fused cpu kernels can read a tensor loss without
 * counting as a readback). Do not write to the result.
 */
export function readValues(backend: MathBackendCPU, t: Tensor): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

/**
 * Write access to tensors for one step. `writable(t)` returns a tensor holding `t`'s
 * values whose storage may be written in place: `t` itself when this package allocated
 * that storage, nothing else references it (backend reference count 1) and this step
 * neither reads it as an input nor writes it elsewhere; otherwise a fresh copy (made
 * once: the copy is owned, so the next step writes it in place).
 */
export class StepStorage {
  private readonly inputs = new Set<DataId>();
  private readonly claimed = new Set<DataId>();
  /** Each state tensor that {@link writable} copied, with its copy: the next state holds the copy. */
  readonly replaced = new Map<Tensor, Tensor>();

  constructor(private readonly backend: MathBackendCPU, inputs: readonly (Tensor | undefined)[]) {
    for (const t of inputs) if (t !== undefined) this.inputs.add(t.dataId);
  }

  private exclusive(dataId: DataId): boolean {
    return owned.has(dataId) && this.backend.refCount(dataId) === 1 && !this.inputs.has(dataId) && !this.claimed.has(dataId);
  }

  private copyOf(t: Tensor): Tensor {
    const values = this.backend.data.get(t.dataId).values as TypedArray;
    const copy = values.slice() as TypedArray;
    const fresh = tf.tensor(copy, t.shape, t.dtype);
    owned.add(fresh.dataId);
    return fresh;
  }

  /** A tensor with `t`'s values and storage this step may write (see the class). */
  writable<T extends Tensor>(t: T): T {
    const out = this.exclusive(t.dataId) ? t : (this.copyOf(t) as T);
    if (out !== t) this.replaced.set(t, out);
    this.claimed.add(out.dataId);
    return out;
  }

  /**
   * Makes a variable's storage writable: when it is shared (e.g. the first step after
   * `tf.variable(t)`, which shares `t`'s storage), the variable is assigned a fresh copy
   * of its values, and the copy is written from then on. `t` keeps its values.
   */
  writableVariable(v: Variable): Float32Array {
    if (!this.exclusive(v.dataId)) {
      const fresh = this.copyOf(v);
      v.assign(fresh);
      fresh.dispose(); // the variable holds the storage now (reference count 1)
    }
    this.claimed.add(v.dataId);
    return this.backend.data.get(v.dataId).values as Float32Array;
  }

  /** The typed array behind a tensor returned by {@link writable}. */
  values(t: Tensor): Float32Array {
    return this.backend.data.get(t.dataId).values as Float32Array;
  }

  /** The typed array behind a bool tensor returned by {@link writable}. */
  boolValues(t: Tensor): Uint8Array {
    return this.backend.data.get(t.dataId).values as Uint8Array;
  }

  /** The writable values of a float32 state tensor: `values(writable(t))`. */
  writableValues(t: Tensor): Float32Array {
    return this.values(this.writable(t));
  }
}

/** Scratch arrays reused across steps (grown when too small), so steps allocate nothing. */
export class Scratch {
  private buffer = new Float64Array(0);

  /** A zeroed Float64Array view of length `n`. */
  float64(n: number): Float64Array {
    if (this.buffer.length < n) this.buffer = new Float64Array(Math.max(n, this.buffer.length * 2));
    const view = this.buffer.subarray(0, n);
    view.fill(0);
    return view;
  }
}
