import { EmosensError, registerFusionTarget } from '@emosens/core';
import { cpuMemory } from './target/cpu-memory.js';
import type { JsPrecision } from './target/render-js.js';
import { createTypedArrayTarget } from './target/typed-array-target.js';
import { wasmMemory } from './target/wasm-memory.js';

/** Options of {@link registerCpuKernels} and {@link registerWasmKernels}. */
export interface CpuKernelOptions {
  /**
   * `'fast'` (default): parameters and state are float32 when stored, and each element's
   * arithmetic in between is float64 (step values are rounded as the composed ops round
   * them); agrees with the composed path within the golden tolerance. `'exact'`: rounds to
   * float32 after every operation in the composed path's order, so fused and composed steps
   * of the cpu backend give bit-identical parameters and state.
   */
  readonly precision?: JsPrecision;
}

function precisionOf(name: string, options: CpuKernelOptions): JsPrecision {
  const precision = options.precision ?? 'fast';
  if (precision !== 'fast' && precision !== 'exact') {
    throw new EmosensError('INVALID_OPTION', `${name}: option 'precision' must be 'fast' or 'exact', got ${String(precision)}.`);
  }
  return precision;
}

/**
 * Registers the typed-array fusion target on the `'cpu'` backend: every step of a chain whose
 * blocks all have fused forms (every optimizer of `@emosens/optimizers`, and the chains you
 * assemble from the blocks) then runs as one compiled pass per parameter over the typed
 * arrays, in place (`StatefulOptimizer.step`, `applyStep`, the tfjs adapter). Returns a
 * function that unregisters it.
 *
 * ```ts
 * import { registerCpuKernels } from '@emosens/backend-cpu';
 * const unregister = registerCpuKernels();
 * const opt = statefulOptimizer(emoSens({ lr: 1e-3 }), { w: tf.zeros([3]) });
 * opt.step({ w: tf.ones([3]) }, { loss: 1 });   // opt.path === 'fused'
 * ```
 */
export function registerCpuKernels(options: CpuKernelOptions = {}): () => void {
  return registerFusionTarget('cpu', createTypedArrayTarget(cpuMemory(), { precision: precisionOf('registerCpuKernels', options) }));
}

/**
 * Registers the same typed-array target on the `'wasm'` backend (`@tensorflow/tfjs-backend-wasm`),
 * whose tensors live in the wasm module's heap: step values are computed in JavaScript and
 * each element pass runs as a WebAssembly SIMD function over the heap (see
 * {@link WasmKernelOptions.simd}). Returns a function that unregisters it.
 */
export function registerWasmKernels(options: WasmKernelOptions = {}): () => void {
  const simd = options.simd ?? true;
  if (typeof simd !== 'boolean') throw new EmosensError('INVALID_OPTION', `registerWasmKernels: option 'simd' must be true or false, got ${String(simd)}.`);
  return registerFusionTarget('wasm', createTypedArrayTarget(wasmMemory({ simd }), { precision: precisionOf('registerWasmKernels', options) }));
}

/** Options of {@link registerWasmKernels}. */
export interface WasmKernelOptions extends CpuKernelOptions {
  /**
   * Run element passes as WebAssembly SIMD functions over the wasm heap (four float32 lanes,
   * rounded as the `'exact'` JavaScript rendering) where the engine supports SIMD and every
   * op of the pass has a lane form; JavaScript loops otherwise. Default true.
   */
  readonly simd?: boolean;
}
