import { EmosensError, registerFusedKernel, type FusedKernel } from '@emosens/core';
import type { Precision } from './internal/options.js';
import { ADAMW, CPU_BACKEND, EMO_AIRY, EMO_CATS, EMO_SENS } from './kernel-keys.js';
import { createAdamwCpuKernel } from './kernels/adamw.js';
import { createEmoAiryCpuKernel } from './kernels/emo-airy.js';
import { createEmoCatsCpuKernel } from './kernels/emo-cats.js';
import { createEmoSensCpuKernel } from './kernels/emo-sens.js';

/** A fused kernel with the key and backend it registers under (tfjs's `KernelConfig`, for whole steps). */
export interface FusedKernelConfig {
  readonly key: string;
  readonly backendName: string;
  readonly kernel: FusedKernel;
}

/** Options of {@link registerCpuKernels}. */
export interface CpuKernelOptions {
  /**
   * `'fast'` (default): parameters and state are float32 when stored, and each entry's
   * arithmetic is float64; agrees with the composed path within the golden tolerance.
   * `'exact'`: rounds to float32 after every operation in the composed path's order, so
   * fused and composed steps give bit-identical parameters and state (about 3x slower).
   */
  readonly precision?: Precision;
}

/** The fused cpu kernels of this package, one per optimizer key. */
export function cpuKernelConfigs(options: CpuKernelOptions = {}): FusedKernelConfig[] {
  const precision = options.precision ?? 'fast';
  if (precision !== 'fast' && precision !== 'exact') {
    throw new EmosensError('INVALID_OPTION', `registerCpuKernels: option 'precision' must be 'fast' or 'exact', got ${String(precision)}.`);
  }
  return [
    { key: EMO_SENS, backendName: CPU_BACKEND, kernel: createEmoSensCpuKernel(precision) },
    { key: EMO_AIRY, backendName: CPU_BACKEND, kernel: createEmoAiryCpuKernel(precision) },
    { key: EMO_CATS, backendName: CPU_BACKEND, kernel: createEmoCatsCpuKernel(precision) },
    { key: ADAMW, backendName: CPU_BACKEND, kernel: createAdamwCpuKernel(precision) },
  ];
}

/**
 * Registers the fused cpu kernels of EmoSens, EmoAiry, EmoCats and Adam/AdamW, so that
 * steps of those optimizers on the `'cpu'` backend (`StatefulOptimizer.step`,
 * `applyStep`) run as one pass over each parameter's typed arrays, in place. Returns a
 * function that unregisters them.
 *
 * ```ts
 * import { registerCpuKernels } from '@emosens/backend-cpu';
 * const unregister = registerCpuKernels();
 * const opt = statefulOptimizer(emoSens({ lr: 1e-3 }), { w });
 * opt.step(grads, { loss });   // opt.path === 'fused'
 * ```
 */
export function registerCpuKernels(options: CpuKernelOptions = {}): () => void {
  const unregister = cpuKernelConfigs(options).map((c) => registerFusedKernel(c.key, c.backendName, c.kernel));
  return () => unregister.forEach((u) => u());
}
