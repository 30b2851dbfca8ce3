import { tidy, type TensorContainer } from '@tensorflow/tfjs-core';
import { createStepContext } from './context.js';
import { disposeReplaced } from './state-tree.js';
import type { GradientTransformation, Loss, Params, Signals, StateValue, Updates } from './types.js';
import { validateGradients } from './validate.js';

export interface RunStepOptions {
  /** This step's loss. Blocks that need it throw a clear error when it is missing. */
  readonly loss?: Loss;
  /** Allow parameters without a gradient (their updates and state are left alone). */
  readonly allowMissing?: boolean;
}

/** What {@link runTransform} returns; the caller owns every tensor in it. */
export interface RunStepResult<S extends StateValue> {
  readonly updates: Updates;
  readonly state: S;
  /** The signals published during the step (e.g. `emotion`, `calm`). */
  readonly signals: Partial<Signals>;
}

/**
 * Runs one `update` of a transform safely: validates the gradients first, runs the
 * update inside `tf.tidy` (so intermediates are released, also when a block throws),
 * and checks the updates it returns. The input `state` is not touched: on error,
 * everything is as before; on success, release the old state with
 * {@link disposeReplaced}`(oldState, result.state, ...)`.
 */
export function runTransform<S extends StateValue>(
  transform: GradientTransformation<S>,
  params: Params,
  state: S,
  grads: Updates,
  options: RunStepOptions = {},
): RunStepResult<S> {
  validateGradients(params, grads, { allowMissing: options.allowMissing ?? false, block: transform.name });
  const result = tidy(() => {
    const context = createStepContext(options.loss);
    const r = transform.update(grads, state, params, context);
    return { updates: r.updates, state: r.state, signals: { ...context.signals } } as unknown as TensorContainer;
  }) as unknown as RunStepResult<S>;
  try {
    validateGradients(params, result.updates, { allowMissing: true, block: transform.name, kind: 'update' });
  } catch (error) {
    disposeReplaced(result, grads, state, params);
    throw error;
  }
  return result;
}
