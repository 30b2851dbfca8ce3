import { EmosensError, registerFusedKernel, type FusedKernel, type FusedStepArgs, type StateValue } from '@emosens/core';
import { FUSED_KEYS, planFusedStep, type FusedKey, type FusedStepPlan } from '@emosens/optimizers';
import { NODE_GPU_BACKEND } from './load-node-gpu.js';
import { runOpsStep } from './internal/step-ops.js';

let lastDecline: string | undefined;

/** Why the last step these kernels declined ran composed instead, if any (for diagnostics). */
export function lastNodeGpuDecline(): string | undefined {
  return lastDecline;
}

/**
 * The device-resident kernel of one reference optimizer, as plain tf ops. It declines
 * (the step runs composed and raises the usual error) when the state does not have the
 * composed optimizer's layout or the loss is missing. It guards non-finite input: with
 * `skipNonFinite`, a step whose loss or gradients hold NaN or Infinity changes nothing (bit
 * for bit, no readback) and returns `finite`, a bool scalar tensor.
 */
export function createNodeGpuKernel(key: FusedKey, backend: string = NODE_GPU_BACKEND): FusedKernel {
  // the plan `supports` found, for the `step` call with the same arguments
  const plans = new WeakMap<object, FusedStepPlan>();
  return {
    name: `${key}/${backend}`,
    // with skipNonFinite, every write is a device-side `where(ok, new, old)` (see runOpsStep)
    guardsNonFinite: true,
    supports(args: FusedStepArgs<StateValue>) {
      const found = planFusedStep(key, args);
      if ('decline' in found) {
        lastDecline = `${key}: ${found.decline}`;
        return false;
      }
      plans.set(args, found.plan);
      return true;
    },
    step(args) {
      let plan = plans.get(args);
      if (plan === undefined) {
        const found = planFusedStep(key, args);
        if ('decline' in found) throw new EmosensError('INVALID_STATE', `${key} (${backend} kernel): ${found.decline}.`);
        plan = found.plan;
      }
      return runOpsStep(plan, args);
    },
  };
}

export interface RegisterNodeGpuKernelsOptions {
  /**
   * The backend to register on. Default 'tensorflow' (tfjs-node-gpu). The kernels are
   * plain tf ops, so they run on any backend; tests register them on 'cpu'.
   */
  readonly backend?: string;
}

/**
 * Registers the kernels of emoSens, emoAiry, emoCats and adamw (adam too) for
 * tfjs-node-gpu's 'tensorflow' backend: each step is a short sequence of tf ops, all
 * state stays on the GPU and nothing is read back. Returns a function that unregisters them.
 *
 * ```ts
 * await loadNodeGpu();
 * await tf.setBackend('tensorflow');
 * const unregister = registerNodeGpuKernels();
 * ```
 */
export function registerNodeGpuKernels(options: RegisterNodeGpuKernelsOptions = {}): () => void {
  const backend = options.backend ?? NODE_GPU_BACKEND;
  const unregister = FUSED_KEYS.map((key) => registerFusedKernel(key, backend, createNodeGpuKernel(key, backend)));
  return () => unregister.forEach((u) => u());
}
