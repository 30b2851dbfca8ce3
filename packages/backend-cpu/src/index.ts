export { ADAMW, CPU_BACKEND, EMO_AIRY, EMO_CATS, EMO_SENS } from './kernel-keys.js';
export {
  cpuKernelConfigs,
  registerCpuKernels,
  type CpuKernelOptions,
  type FusedKernelConfig,
} from './register-cpu-kernels.js';
export type { Precision } from './internal/options.js';
