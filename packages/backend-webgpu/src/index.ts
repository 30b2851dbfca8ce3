export { createWebGpuKernel, registerWebGpuKernels, WEBGPU_BACKEND } from './register-webgpu-kernels.js';
// the keys are the optimizers' own (re-exported for the kernels' users)
export { FUSED_KEYS, type FusedKey } from '@emosens/optimizers';
export {
  CHROMIUM_SWIFTSHADER_ICD,
  setupNodeWebGpu,
  waitForWebGpu,
  type SetupNodeWebGpuOptions,
  type WebGpuSetup,
} from './setup-node-webgpu.js';
export { lastWebGpuDecline, lastWebGpuStep, type StepReport } from './diagnostics.js';
