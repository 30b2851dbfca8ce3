export { ADAMW, CPU_BACKEND, EMO_AIRY, EMO_CATS, EMO_SENS } from './kernel-keys.js';
export { cpuKernelConfigs, registerCpuKernels, type FusedKernelConfig } from './register-cpu-kernels.js';
export { adamwCpuKernel } from './kernels/adamw.js';
export { emoAiryCpuKernel } from './kernels/emo-airy.js';
export { emoCatsCpuKernel } from './kernels/emo-cats.js';
export { emoSensCpuKernel } from './kernels/emo-sens.js';
