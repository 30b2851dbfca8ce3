import { EmosensError, registerFusedKernel, type FusedKernel, type FusedStepArgs, type StateValue } from '@emosens/core';
import { backend } from '@tensorflow/tfjs-core';
import { recordDecline } from './diagnostics.js';
import { findInternals } from './internal/backend-internals.js';
import { runFusedStep } from './internal/run-fused-step.js';
import { FUSED_KEYS, type FusedKey, type FusedStepPlan } from '@emosens/optimizers';
import { planStep } from './internal/step-plan.js';

/** The backend these kernels run on. */
export const WEBGPU_BACKEND = 'webgpu';

/**
 * The fused WebGPU kernel of one reference optimizer. It declines (and the step runs
 * composed) when the backend is not tfjs-backend-webgpu 4.22, when the state does not have
 * the composed optimizer's layout, or when the loss is missing or invalid, so that the
 * composed path raises the usual error. It guards non-finite input (`skipNonFinite`) on
 * the device: a step with NaN or Infinity in the loss or a gradient writes nothing, and
 * `finite` is a bool scalar computed there (nothing is read back).
 */
export function createWebGpuKernel(key: FusedKey): FusedKernel {
  const plans = new WeakMap<object, FusedStepPlan>();
  const decide = (args: FusedStepArgs<StateValue>): FusedStepPlan | string => {
    const found = findInternals(backend());
    if ('reason' in found) return found.reason;
    return planStep(key, args);
  };
  return {
    name: `${key}/${WEBGPU_BACKEND}`,
    guardsNonFinite: true,
    supports(args) {
      const plan = decide(args);
      if (typeof plan === 'string') {
        recordDecline(`${key}: ${plan}`);
        return false;
      }
      plans.set(args, plan);
      return true;
    },
    step(args) {
      const plan = plans.get(args) ?? decide(args);
      if (typeof plan === 'string') throw new EmosensError('INVALID_STATE', `${key} (webgpu fused kernel): ${plan}.`);
      const found = findInternals(backend());
      if ('reason' in found) throw new EmosensError('INVALID_STATE', `${key} (webgpu fused kernel): ${found.reason}.`);
      return runFusedStep(found.internals, plan, args);
    },
  };
}

/**
 * Registers the fused WebGPU kernels of emoSens, emoAiry, emoCats and adamw (adam too)
 * on the 'webgpu' backend. Steps of those optimizers then run as a few WGSL dispatches
 * whenever 'webgpu' is the active backend. Returns a function that unregisters them.
 *
 * ```ts
 * const unregister = registerWebGpuKernels();
 * const opt = statefulOptimizer(emoSens(), params);
 * opt.step(grads, { loss });   // opt.path === 'fused'
 * ```
 */
export function registerWebGpuKernels(): () => void {
  const unregister = FUSED_KEYS.map((key) => registerFusedKernel(key, WEBGPU_BACKEND, createWebGpuKernel(key)));
  return () => unregister.forEach((u) => u());
}
