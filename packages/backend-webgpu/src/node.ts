// The Node-only entry, `@emosens/backend-webgpu/node`: WebGPU in Node through the npm
// package `webgpu` (Dawn). It reads the file system (node:fs, node:os, node:path), so it
// lives apart from the main entry, which bundles for the browser.
export {
  CHROMIUM_SWIFTSHADER_ICD,
  setupNodeWebGpu,
  type SetupNodeWebGpuOptions,
  type WebGpuSetup,
} from './setup-node-webgpu.js';
