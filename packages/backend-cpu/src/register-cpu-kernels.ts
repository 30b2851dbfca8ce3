import { registerFusedKernel, type FusedKernel } from '@emosens/core';
import { ADAMW, CPU_BACKEND, EMO_AIRY, EMO_CATS, EMO_SENS } from './kernel-keys.js';
import { adamwCpuKernel } from './kernels/adamw.js';
import { emoAiryCpuKernel } from './kernels/emo-airy.js';
import { emoCatsCpuKernel } from './kernels/emo-cats.js';
import { emoSensCpuKernel } from './kernels/emo-sens.js';

/** A fused kernel with the key and backend it registers under (tfjs's `KernelConfig`, for fused steps). */
export interface FusedKernelConfig {
  readonly key: string;
  readonly backendName: string;
  readonly kernel: FusedKernel;
}

/** Every fused cpu kernel of this package. */
export const cpuKernelConfigs: readonly FusedKernelConfig[] = [
  { key: EMO_SENS, backendName: CPU_BACKEND, kernel: emoSensCpuKernel },
  { key: EMO_AIRY, backendName: CPU_BACKEND, kernel: emoAiryCpuKernel },
  { key: EMO_CATS, backendName: CPU_BACKEND, kernel: emoCatsCpuKernel },
  { key: ADAMW, backendName: CPU_BACKEND, kernel: adamwCpuKernel },
];

/**
 * Registers the fused cpu kernels of EmoSens, EmoAiry, EmoCats and Adam/AdamW, so that
 * steps of those optimizers on the `'cpu'` backend (`StatefulOptimizer.step`,
 * `applyStep`) run as one pass over each parameter's typed arrays. Returns a function
 * that unregisters them.
 *
 * ```ts
 * import { registerCpuKernels } from '@emosens/backend-cpu';
 * const unregister = registerCpuKernels();
 * const opt = statefulOptimizer(emoSens({ lr: 1e-3 }), { w });
 * opt.step(grads, { loss });   // opt.path === 'fused'
 * ```
 */
export function registerCpuKernels(): () => void {
  const unregister = cpuKernelConfigs.map((c) => registerFusedKernel(c.key, c.backendName, c.kernel));
  return () => unregister.forEach((u) => u());
}
