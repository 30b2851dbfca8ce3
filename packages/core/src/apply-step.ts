import type { Scalar, Variable } from '@tensorflow/tfjs-core';
import { applyUpdates } from './apply-updates.js';
import { validateLoss } from './context.js';
import { findFusionTarget } from './fusion/target.js';
import { traceStep } from './fusion/trace.js';
import { guardStep, type GuardedStep } from './internal/guard.js';
import { runTransform } from './run-step.js';
import { disposeReplaced } from './state-tree.js';
import type { GradientTransformation, Loss, Signals, StateValue, Updates } from './types.js';
import { validateGradients } from './validate.js';

/** Which path ran a step. */
export type StepPath = 'fused' | 'composed';

export interface ApplyStepOptions {
  readonly loss?: Loss;
  readonly allowMissing?: boolean;
  /** Run the step on the fusion target of the active backend when the transform fuses. Default true. */
  readonly fused?: boolean;
  /**
   * Skip the step when the loss or a gradient holds NaN or Infinity, with no readback.
   * A fusion target with `guardsNonFinite` checks by itself and changes nothing. Otherwise
   * the composed transform runs and its result is applied under a guard computed on the
   * device: one bool scalar `ok` (loss and every gradient finite); every parameter
   * becomes `where(ok, p + u, p)` and every tensor leaf of the state (and every signal)
   * `where(ok, new, old)`. Tensors are then exactly as before a skipped step; number
   * leaves of the state (e.g. a learning-rate schedule's `count`) still advance, since a
   * JavaScript value cannot be chosen by a device value without reading it. The
   * reference optimizers keep no number leaves. Default false.
   */
  readonly skipNonFinite?: boolean;
  /**
   * With `skipNonFinite` on the composed path: the previous step's signals, so that a
   * signal which is not also a state tensor keeps its value on a skipped step. Not
   * released here (the caller releases them as usual).
   */
  readonly previousSignals?: Partial<Signals>;
}

export interface ApplyStepResult<S extends StateValue> {
  readonly state: S;
  readonly signals: Partial<Signals>;
  readonly path: StepPath;
  /**
   * With `skipNonFinite`: whether the step was applied. A boolean from a target that
   * checked without a readback (see `FusionRunResult.finite`), or a bool scalar tensor
   * owned by the caller (the composed guard, or a target on a device).
   */
  readonly finite?: boolean | Scalar;
}

/**
 * One whole optimizer step on variables: validates the gradients, then traces the
 * transform's fused form and runs it on the fusion target registered for the active
 * backend (see `registerFusionTarget`), or else (no target, a block without a fused form,
 * a step the tracer or the target declines: `explainFusion` says which) the composed
 * transform followed by {@link applyUpdates}. Releases the replaced state (and the
 * updates); the caller owns the returned state and signals, and should release the
 * previous step's signals with `disposeReplaced(oldSignals, result.state, result.signals)`.
 *
 * With `skipNonFinite`, a target that `guardsNonFinite` runs the step and skips it by
 * itself; otherwise (no target, a target that does not guard, a declined step, or
 * `fused: false`) the composed step is applied under a device-side guard (see
 * {@link ApplyStepOptions.skipNonFinite}). Either way nothing is read back, and
 * `result.finite` says whether the step was applied (a tensor `finite` belongs to the
 * caller).
 *
 * On error, parameters and state are as before.
 */
export function applyStep<S extends StateValue>(
  transform: GradientTransformation<S>,
  params: Readonly<Record<string, Variable>>,
  state: S,
  grads: Updates,
  options: ApplyStepOptions = {},
): ApplyStepResult<S> {
  const skip = options.skipNonFinite === true;
  const target = options.fused === false ? undefined : findFusionTarget();
  if (target && transform.fusion !== undefined && (!skip || target.guardsNonFinite)) {
    validateGradients(params, grads, { allowMissing: options.allowMissing ?? false, block: transform.name });
    if (options.loss !== undefined) validateLoss(options.loss);
    const traced = traceStep(transform as GradientTransformation<StateValue>, params, state, grads, options.loss);
    if ('step' in traced && target.check?.(traced.step) === undefined) {
      const r = target.run(traced.step, { skipNonFinite: skip, ...(options.previousSignals ? { previousSignals: options.previousSignals } : {}) });
      const finite = skip ? { finite: r.finite ?? true } : {};
      disposeReplaced(state, r.state, r.signals, params, grads, options.loss, finite, options.previousSignals);
      return { state: r.state as S, signals: r.signals, path: 'fused', ...finite };
    }
  }
  const r = runTransform(transform, params, state, grads, {
    ...(options.loss !== undefined ? { loss: options.loss } : {}),
    allowMissing: options.allowMissing ?? false,
  });
  if (skip) {
    let g: GuardedStep<S>;
    try {
      g = guardStep(params, r, state, options.loss, grads, options.previousSignals);
    } catch (error) {
      disposeReplaced(r, state, grads, params, options.loss, options.previousSignals);
      throw error;
    }
    const keep = [g.state, g.signals, g.ok, params, grads, options.loss, options.previousSignals];
    disposeReplaced(state, ...keep);
    disposeReplaced(r, ...keep);
    return { state: g.state, signals: g.signals, path: 'composed', finite: g.ok };
  }
  applyUpdates(params, r.updates);
  const keep = [r.state, r.signals, params, options.loss];
  disposeReplaced(state, ...keep);
  disposeReplaced(r.updates, grads, ...keep);
  return { state: r.state, signals: r.signals, path: 'composed' };
}
