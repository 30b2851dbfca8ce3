import { registerFusionTarget } from '@emosens/core';
import { NODE_GPU_BACKEND } from './load-node-gpu.js';
import { createTfOpsTarget } from './target/tf-ops-target.js';

export interface RegisterNodeGpuKernelsOptions {
  /**
   * The backend to register on. Default `'tensorflow'` (tfjs-node-gpu). The target runs
   * plain tf ops, so it serves any backend without a fusion target of its own; the tests
   * register it on `'cpu'` and `'wasm'`.
   */
  readonly backend?: string;
}

/**
 * Registers the tf-ops fusion target ({@link createTfOpsTarget}) for tfjs-node-gpu's
 * `'tensorflow'` backend: every step of a transform with a fused form (every reference
 * optimizer, and any chain of blocks that declare one) runs as one sequence of eager tf
 * ops over the traced graph, all state stays on the GPU and nothing is read back. Returns
 * a function that unregisters it.
 *
 * ```ts
 * await loadNodeGpu();
 * await tf.setBackend('tensorflow');
 * const unregister = registerNodeGpuKernels();
 * ```
 */
export function registerNodeGpuKernels(options: RegisterNodeGpuKernelsOptions = {}): () => void {
  return registerFusionTarget(options.backend ?? NODE_GPU_BACKEND, createTfOpsTarget());
}
