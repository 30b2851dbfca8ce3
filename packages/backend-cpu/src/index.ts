export {
  CPU_BACKEND,
  cpuKernelConfigs,
  registerCpuKernels,
  type CpuKernelOptions,
  type FusedKernelConfig,
} from './register-cpu-kernels.js';
export type { Precision } from './internal/float32.js';
