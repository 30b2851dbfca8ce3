export {
  CPU_BACKEND,
  cpuKernelConfigs,
  registerCpuKernels,
  type CpuKernelOptions,
  type FusedKernelConfig,
} from './register-cpu-kernels.js';
export type { Precision } from './internal/float32.js';
export { createTypedArrayTarget, type StepMemory, type TypedArrayMemory, type TypedArrayTargetOptions } from './target/typed-array-target.js';
export { cpuMemory } from './target/cpu-memory.js';
export { renderJs, type JsPrecision } from './target/render-js.js';
