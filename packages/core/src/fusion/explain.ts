import { getBackend, type Variable } from '@tensorflow/tfjs-core';
import type { GradientTransformation, Loss, StateValue, Updates } from '../types.js';
import { fusionBlocker } from './form.js';
import { findFusionTarget } from './target.js';
import { traceStep } from './trace.js';

/** What {@link explainFusion} found. */
export type FusionExplanation =
  | { readonly fused: true; /** The target that runs the step. */ readonly target: string }
  | { readonly fused: false; /** Why the step runs composed. */ readonly reason: string };

/** A step to explain: with it, the explanation also covers what depends on the arguments (shapes, storage). */
export interface ExplainStep {
  readonly params: Readonly<Record<string, Variable>>;
  readonly state: StateValue;
  readonly grads: Updates;
  readonly loss?: Loss;
}

/**
 * Whether `transform` runs fused on `backend` (the active one by default), and if not,
 * which block or argument stopped fusion and why:
 *
 * ```ts
 * const double = stateless('double', (u) => tf.mul(u, 2)); // a tf function only: no fused form
 * explainFusion(chain(scaleByAdam(), double, scaleByLearningRate(1e-3)), 'cpu');
 * // { fused: false, reason: "block 'double' has no fused form (stateless() was given no fused function)" }
 * ```
 *
 * Without `step` only the transform and the registered targets are checked; with one, the
 * step is traced as `applyStep` would trace it (nothing is run or written).
 */
export function explainFusion(
  transform: GradientTransformation<StateValue>,
  backend: string = getBackend(),
  step?: ExplainStep,
): FusionExplanation {
  const blocked = fusionBlocker(transform.name, transform.fusion);
  if (blocked !== undefined) return { fused: false, reason: blocked };
  const target = findFusionTarget(backend);
  if (target === undefined) {
    return { fused: false, reason: `no fusion target is registered for the '${backend}' backend (e.g. registerCpuKernels() of @emosens/backend-cpu)` };
  }
  if (step !== undefined) {
    const traced = traceStep(transform, step.params, step.state, step.grads, step.loss);
    if ('decline' in traced) return { fused: false, reason: traced.decline };
    const reason = target.check?.(traced.step);
    if (reason !== undefined) return { fused: false, reason: `the ${target.name} target declined: ${reason}` };
  }
  return { fused: true, target: target.name };
}
