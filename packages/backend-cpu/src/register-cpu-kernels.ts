import { EmosensError, registerFusedKernel, type FusedKernel } from '@emosens/core';
import { FUSED_KEYS, type FusedKey, type FusedParamSlots } from '@emosens/optimizers';
import { onCpu, runCpuStep, type LoopFactory } from './internal/cpu-step.js';
import type { Precision } from './internal/float32.js';
import { adamwLoop, emoAiryAdamLoop, emoSensAdamLoop } from './kernels/adam.js';
import { emoAiryFactoredLoop } from './kernels/emo-airy.js';
import { emoCatsLoop } from './kernels/emo-cats.js';

/** The backend these kernels run on. */
export const CPU_BACKEND = 'cpu';

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

/** The element loop of one parameter, by the direction and filter the shared plan gives it. */
function loopFor(slot: FusedParamSlots): LoopFactory {
  switch (slot.direction) {
    case 'adam':
      return slot.filter === 'none' ? adamwLoop : slot.filter === 'squareAbove' ? emoAiryAdamLoop : emoSensAdamLoop;
    case 'factored':
      return emoAiryFactoredLoop;
    case 'lion':
      return emoCatsLoop;
  }
}

/**
 * The cpu kernel of one reference optimizer: the whole step in one pass over each
 * parameter's typed arrays (two over the gradient for EmoAiry's matrices), in place.
 */
function createCpuKernel(key: FusedKey, precision: Precision): FusedKernel {
  const name = `${key}/${CPU_BACKEND}`;
  return { name, supports: onCpu, guardsNonFinite: true, step: (args) => runCpuStep(key, name, precision, loopFor, args) };
}

/** The fused cpu kernels of this package, one per key of `FUSED_KEYS` (`@emosens/optimizers`). */
export function cpuKernelConfigs(options: CpuKernelOptions = {}): FusedKernelConfig[] {
  const precision = options.precision ?? 'fast';
  if (precision !== 'fast' && precision !== 'exact') {
    throw new EmosensError('INVALID_OPTION', `registerCpuKernels: option 'precision' must be 'fast' or 'exact', got ${String(precision)}.`);
  }
  return FUSED_KEYS.map((key) => ({ key, backendName: CPU_BACKEND, kernel: createCpuKernel(key, precision) }));
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
