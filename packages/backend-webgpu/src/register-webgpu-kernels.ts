import { registerFusionTarget } from '@emosens/core';
import { createWgslTarget } from './target/wgsl-target.js';

/** The backend the WGSL target runs on. */
export const WEBGPU_BACKEND = 'webgpu';

/**
 * Registers the WGSL fusion target (see `createWgslTarget`) for the 'webgpu' backend:
 * every step of a transform with a fused form (any chain of the blocks that declare one,
 * the reference optimizers included) then runs as a few WGSL compute dispatches whenever
 * 'webgpu' is the active backend, updating the parameters and their state in place with
 * nothing read back. Returns a function that unregisters it.
 *
 * ```ts
 * const unregister = registerWebGpuKernels();
 * const opt = statefulOptimizer(chain(scaleByAdam(), scaleByLearningRate(1e-3)), params);
 * opt.step(grads);   // opt.path === 'fused'
 * ```
 */
export function registerWebGpuKernels(): () => void {
  return registerFusionTarget(WEBGPU_BACKEND, createWgslTarget());
}
