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
}
