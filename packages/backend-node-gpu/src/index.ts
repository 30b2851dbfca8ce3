export { loadNodeGpu, NODE_GPU_BACKEND, NODE_GPU_PACKAGE, nodeGpuStatus, type NodeGpuModule } from './load-node-gpu.js';
export { registerNodeGpuKernels, type RegisterNodeGpuKernelsOptions } from './register-node-gpu-kernels.js';
export { createTfOpsTarget, TF_OPS_TARGET } from './target/tf-ops-target.js';
