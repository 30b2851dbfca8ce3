/**
 * @packageDocumentation
 * @mergeModuleWith <project>
 */
export { registerWebGpuKernels, WEBGPU_BACKEND } from './register-webgpu-kernels.js';
export { createWgslTarget } from './target/wgsl-target.js';
export {
  renderWgsl,
  type BufferRef,
  type LossKind,
  type RenderWgslOptions,
  type ScratchCopy,
  type SignalPlace,
  type UniformEntry,
  type WgslBinding,
  type WgslPlan,
  type WgslProgram,
} from './target/render-wgsl.js';
export type { Lanes } from './target/wgsl-ops.js';
export { waitForWebGpu } from './wait-for-webgpu.js';
// setupNodeWebGpu (WebGPU in Node through Dawn) is Node-only: `@emosens/backend-webgpu/node`.
export { lastWebGpuDecline, lastWebGpuStep, type StepReport } from './diagnostics.js';
