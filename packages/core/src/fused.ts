import { getBackend, type Scalar, type Variable } from '@tensorflow/tfjs-core';
import { EmosensError } from './errors.js';
import type { FusedSpec, GradientTransformation, Loss, Signals, StateValue, Updates } from './types.js';

/** What a fused kernel receives for one step. Gradients are validated before. */
export interface FusedStepArgs<S extends StateValue> {
  /** The parameters, to be updated in place. */
  readonly params: Readonly<Record<string, Variable>>;
  readonly grads: Updates;
  /** The current state, laid out exactly as the composed transform's `init` lays it out. */
  readonly state: S;
  readonly loss: Loss | undefined;
  /** The hyperparameters from the transform's {@link FusedSpec}. */
  readonly options: FusedSpec['options'];
  /**
   * When true (only passed to kernels with `guardsNonFinite`), the kernel first checks the
   * loss and every gradient; if any holds NaN or Infinity it changes nothing (parameters
   * and state bit for bit) and reports `finite: false`.
   */
  readonly skipNonFinite?: boolean;
}

/** What a fused kernel returns: the new state (same layout) and the signals of the step. */
export interface FusedStepResult<S extends StateValue> {
  readonly state: S;
  readonly signals: Partial<Signals>;
  /**
   * With `skipNonFinite`: whether the step was applied. A boolean where the kernel could
   * check without a device readback (cpu memory), else a bool scalar tensor.
   */
  readonly finite?: boolean | Scalar;
}

/**
 * A whole step of one transform as one backend-specific computation: it updates the
 * parameters in place and returns the next state. It must agree with the composed
 * transform within the golden tolerance and keep the same state layout, so that a
 * state saved on one path resumes on the other.
 */
export interface FusedKernel {
  readonly name: string;
  /** Whether this kernel handles these arguments (e.g. shapes, dtypes); the composed path runs otherwise. */
  supports?(args: FusedStepArgs<StateValue>): boolean;
  /** Whether the kernel implements `skipNonFinite` (checks before it writes anything). */
  readonly guardsNonFinite?: boolean;
  step(args: FusedStepArgs<StateValue>): FusedStepResult<StateValue>;
}

const registry = new Map<string, Map<string, FusedKernel>>();

/**
 * Registers a fused kernel for the transforms whose `fused.key` is `key`, on the backend
 * named `backend` (`'cpu'`, `'webgpu'`, `'tensorflow'`...). A later registration replaces
 * an earlier one. Returns a function that unregisters it.
 */
export function registerFusedKernel(key: string, backend: string, kernel: FusedKernel): () => void {
  if (!key || !backend) throw new EmosensError('INVALID_OPTION', 'registerFusedKernel: key and backend must be non-empty strings.');
  let byBackend = registry.get(key);
  if (!byBackend) registry.set(key, (byBackend = new Map()));
  byBackend.set(backend, kernel);
  return () => {
    if (registry.get(key)?.get(backend) === kernel) registry.get(key)!.delete(backend);
  };
}

/** The fused kernel registered for a transform on a backend (the active one by default), if any. */
export function findFusedKernel(transform: GradientTransformation<StateValue>, backend: string = getBackend()): FusedKernel | undefined {
  const key = transform.fused?.key;
  return key === undefined ? undefined : registry.get(key)?.get(backend);
}
