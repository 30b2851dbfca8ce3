import { engine, type DataType, type Tensor, type TensorInfo } from '@tensorflow/tfjs-core';

/** What the webgpu backend keeps per tensor storage (`backend.tensorMap.get(dataId)`). */
export interface TensorData {
  /** A CPU copy of the values, if any (set by uploads not yet done and by reads). */
  values: unknown;
  /** The device storage once uploaded. */
  resource: unknown;
  refCount: number;
  readonly dtype: DataType;
  readonly shape: readonly number[];
}

/**
 * The members of tfjs-backend-webgpu 4.22's `WebGPUBackend` that the fused kernels use.
 * They are not part of its typed public surface, so {@link findInternals} checks each one
 * at run time and the kernels fall back to the composed path when one is missing.
 */
export interface WebGpuInternals {
  readonly device: GPUDevice;
  readonly queue: GPUQueue;
  readonly tensorMap: { get(dataId: object): TensorData | undefined };
  readonly bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer };
  /** Buffers released back to the pool when the pending commands are submitted. */
  readonly uniformPendingDisposal: GPUBuffer[];
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  uploadToGPU(dataId: object): void;
  makeTensorInfo(shape: number[], dtype: DataType): TensorInfo;
}

const METHODS = ['ensureCommandEncoderReady', 'endComputePassEncoder', 'submitQueue', 'uploadToGPU', 'makeTensorInfo'] as const;

/** The backend's internals, or why they cannot be used. */
export function findInternals(backend: unknown): { internals: WebGpuInternals } | { reason: string } {
  if (typeof backend !== 'object' || backend === null) return { reason: 'no backend' };
  const b = backend as Record<string, unknown>;
  if (typeof b.device !== 'object' || b.device === null) return { reason: 'the backend has no GPUDevice (`device`)' };
  if (typeof b.tensorMap !== 'object' || b.tensorMap === null) return { reason: 'the backend has no `tensorMap`' };
  if (typeof b.bufferManager !== 'object' || b.bufferManager === null) return { reason: 'the backend has no `bufferManager`' };
  if (!Array.isArray(b.uniformPendingDisposal)) return { reason: 'the backend has no `uniformPendingDisposal` list' };
  for (const m of METHODS) {
    if (typeof b[m] !== 'function') return { reason: `the backend has no method '${m}' (tfjs-backend-webgpu 4.22 is expected)` };
  }
  return { internals: backend as WebGpuInternals };
}

/** The storage record of a tensor. */
export function tensorData(internals: WebGpuInternals, t: Tensor | TensorInfo): TensorData {
  const data = internals.tensorMap.get(t.dataId);
  if (!data) throw new Error(`webgpu fused kernel: tensor ${String((t.dataId as { id?: number }).id)} is not on this backend`);
  return data;
}

/** The device buffer of a tensor, uploading it first if its values are still on the CPU. */
export function bufferOf(internals: WebGpuInternals, t: Tensor | TensorInfo): GPUBuffer {
  internals.uploadToGPU(t.dataId);
  return tensorData(internals, t).resource as GPUBuffer;
}

/**
 * A tensor with the same values whose storage nobody else references, so it may be
 * written in place: `t` itself when its storage's reference count is 1, else a copy
 * (encoded on the backend's command encoder, in order with its pending work). The
 * caller owns a returned copy.
 */
export function exclusiveStorage(internals: WebGpuInternals, t: Tensor): Tensor {
  return tensorData(internals, t).refCount <= 1 ? t : copyTensor(internals, t);
}

/** A new tensor with a copy of `t`'s values in its own storage; the caller owns it. */
export function copyTensor(internals: WebGpuInternals, t: Tensor): Tensor {
  const source = bufferOf(internals, t);
  const info = internals.makeTensorInfo([...t.shape], t.dtype);
  const target = bufferOf(internals, info);
  internals.ensureCommandEncoderReady();
  internals.endComputePassEncoder();
  internals.commandEncoder!.copyBufferToBuffer(source, 0, target, 0, Math.min(source.size, target.size));
  return engine().makeTensorFromTensorInfo(info);
}

/** Drops the CPU copy of a tensor written in place on the device (it would be stale). */
export function clearCpuCopy(internals: WebGpuInternals, t: Tensor): void {
  tensorData(internals, t).values = null;
}
