import { getBackend, type Scalar } from '@tensorflow/tfjs-core';
import { EmosensError } from '../errors.js';
import type { Signals, StateValue } from '../types.js';
import type { TracedStep } from './trace.js';

/** Options of one {@link FusionTarget.run}. */
export interface FusionRunOptions {
  /**
   * Check the loss and every gradient first; if any holds NaN or Infinity, change nothing
   * (parameters and state bit for bit) and report `finite: false`. Only passed to targets
   * with `guardsNonFinite`.
   */
  readonly skipNonFinite: boolean;
  /** The previous step's signals: what a skipped step reports for signals that are not state. */
  readonly previousSignals?: Partial<Signals>;
}

/** What a target's run returns: the new state (the old layout) and the step's signals. */
export interface FusionRunResult {
  readonly state: StateValue;
  readonly signals: Partial<Signals>;
  /** With `skipNonFinite`: whether the step was applied (a boolean, or a bool scalar tensor on a device). */
  readonly finite?: boolean | Scalar;
}

/**
 * A backend target of the fusion compiler: runs any traced step (see `traceStep`) on one
 * tfjs backend, updating the parameters and every state tensor it can in place. A target
 * renders the schedule's passes from the graph's operations; it knows no block.
 */
export interface FusionTarget {
  /** A short name, e.g. `'typed-array'`, `'wgsl'`, `'tf-ops'`. */
  readonly name: string;
  /** Whether the target implements `skipNonFinite` itself (checks before it writes anything). */
  readonly guardsNonFinite: boolean;
  /** Why this target cannot run the step (e.g. a tensor on another backend), or undefined when it can. */
  check?(step: TracedStep): string | undefined;
  run(step: TracedStep, options: FusionRunOptions): FusionRunResult;
}

const targets = new Map<string, FusionTarget>();

/**
 * Registers the fusion target that runs fused steps on the tfjs backend named `backend`
 * (`'cpu'`, `'wasm'`, `'webgpu'`, `'tensorflow'`...). A later registration replaces an
 * earlier one. Returns a function that unregisters it.
 */
export function registerFusionTarget(backend: string, target: FusionTarget): () => void {
  if (typeof backend !== 'string' || backend === '') {
    throw new EmosensError('INVALID_OPTION', `registerFusionTarget: 'backend' must be a non-empty string, got ${String(backend)}.`);
  }
  targets.set(backend, target);
  return () => {
    if (targets.get(backend) === target) targets.delete(backend);
  };
}

/** The fusion target registered for a backend (the active one by default), if any. */
export function findFusionTarget(backend: string = getBackend()): FusionTarget | undefined {
  return targets.get(backend);
}
