import type { Scalar, Variable } from '@tensorflow/tfjs-core';
import { EmosensError } from './errors.js';
import { applyUpdates } from './apply-updates.js';
import { validateLoss } from './context.js';
import { findFusedKernel, type FusedStepArgs } from './fused.js';
import { runTransform } from './run-step.js';
import { disposeReplaced } from './state-tree.js';
import type { GradientTransformation, Loss, Signals, StateValue, Updates } from './types.js';
import { validateGradients } from './validate.js';

/** Which path ran a step. */
export type StepPath = 'fused' | 'composed';

export interface ApplyStepOptions {
  readonly loss?: Loss;
  readonly allowMissing?: boolean;
  /** Use a registered fused kernel when one exists for the active backend. Default true. */
  readonly fused?: boolean;
  /**
   * Skip the step (nothing changes) when the loss or a gradient is not finite. Only a
   * fused kernel with `guardsNonFinite` can do this here; with this option set and no
   * such kernel, `applyStep` throws `INVALID_OPTION` (callers guard the composed path
   * themselves, as the tfjs adapter does). Default false.
   */
  readonly skipNonFinite?: boolean;
}

export interface ApplyStepResult<S extends StateValue> {
  readonly state: S;
  readonly signals: Partial<Signals>;
  readonly path: StepPath;
  /** With `skipNonFinite`: whether the step was applied (see `FusedStepResult.finite`). */
  readonly finite?: boolean | Scalar;
}

/** Whether {@link applyStep} can run this transform's step with `skipNonFinite` on the active backend. */
export function canGuardNonFinite(transform: GradientTransformation<StateValue>): boolean {
  return findFusedKernel(transform)?.guardsNonFinite === true;
}

/**
 * One whole optimizer step on variables: validates the gradients, then runs the fused
 * kernel registered for the transform on the active backend, or else the composed
 * transform followed by {@link applyUpdates}. Releases the replaced state (and the
 * updates); the caller owns the returned state and signals, and should release the
 * previous step's signals with `disposeReplaced(oldSignals, result.state, result.signals)`.
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
  const kernel = options.fused === false ? undefined : findFusedKernel(transform as GradientTransformation<StateValue>);
  if (options.skipNonFinite && !kernel?.guardsNonFinite) {
    throw new EmosensError(
      'INVALID_OPTION',
      `applyStep: skipNonFinite needs a fused kernel that guards non-finite values for '${transform.name}' on this backend (check canGuardNonFinite first).`,
    );
  }
  if (kernel) {
    validateGradients(params, grads, { allowMissing: options.allowMissing ?? false, block: transform.name });
    if (options.loss !== undefined) validateLoss(options.loss);
    const args: FusedStepArgs<StateValue> = {
      params,
      grads,
      state,
      loss: options.loss,
      options: transform.fused!.options,
      ...(options.skipNonFinite ? { skipNonFinite: true } : {}),
    };
    if (!kernel.supports || kernel.supports(args)) {
      const r = kernel.step(args);
      disposeReplaced(state, r.state, r.signals, params, grads, options.loss);
      return { state: r.state as S, signals: r.signals, path: 'fused', ...(r.finite !== undefined ? { finite: r.finite } : {}) };
    }
    if (options.skipNonFinite) {
      throw new EmosensError('INVALID_OPTION', `applyStep: the fused kernel '${kernel.name}' declined this step, and skipNonFinite needs it.`);
    }
  }
  const r = runTransform(transform, params, state, grads, {
    ...(options.loss !== undefined ? { loss: options.loss } : {}),
    allowMissing: options.allowMissing ?? false,
  });
  applyUpdates(params, r.updates);
  const keep = [r.state, r.signals, params, options.loss];
  disposeReplaced(state, ...keep);
  disposeReplaced(r.updates, grads, ...keep);
  return { state: r.state, signals: r.signals, path: 'composed' };
}
