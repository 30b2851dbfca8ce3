// the keys are the optimizers' own (re-exported for the kernels' users)
export { FUSED_KEYS, type FusedKey } from '@emosens/optimizers';
export { loadNodeGpu, NODE_GPU_BACKEND, NODE_GPU_PACKAGE, nodeGpuStatus, type NodeGpuModule } from './load-node-gpu.js';
export {
  createNodeGpuKernel,
  lastNodeGpuDecline,
  registerNodeGpuKernels,
  type RegisterNodeGpuKernelsOptions,
} from './register-node-gpu-kernels.js';
