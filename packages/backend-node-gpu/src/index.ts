export { FUSED_KEYS, type FusedKey } from './fused-keys.js';
export { loadNodeGpu, NODE_GPU_BACKEND, NODE_GPU_PACKAGE, nodeGpuStatus, type NodeGpuModule } from './load-node-gpu.js';
export {
  createNodeGpuKernel,
  lastNodeGpuDecline,
  registerNodeGpuKernels,
  type RegisterNodeGpuKernelsOptions,
} from './register-node-gpu-kernels.js';
