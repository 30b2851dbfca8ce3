export { registerCpuKernels, registerWasmKernels, type CpuKernelOptions, type WasmKernelOptions } from './register-cpu-kernels.js';
export { createTypedArrayTarget, type StepMemory, type TypedArrayMemory, type TypedArrayTargetOptions } from './target/typed-array-target.js';
export { cpuMemory } from './target/cpu-memory.js';
export { wasmMemory } from './target/wasm-memory.js';
export { renderJs, type JsPrecision, type RenderJsOptions } from './target/render-js.js';
