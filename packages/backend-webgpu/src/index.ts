export { createWebGpuKernel, registerWebGpuKernels, WEBGPU_BACKEND } from './register-webgpu-kernels.js';
export { FUSED_KEYS, type FusedKey } from './fused-keys.js';
export {
  CHROMIUM_SWIFTSHADER_ICD,
  setupNodeWebGpu,
  waitForWebGpu,
  type SetupNodeWebGpuOptions,
  type WebGpuSetup,
} from './setup-node-webgpu.js';
export { lastWebGpuDecline, lastWebGpuStep, type StepReport } from './diagnostics.js';
