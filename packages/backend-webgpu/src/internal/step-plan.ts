import { isTensor, type FusedStepArgs, type StateValue } from '@emosens/core';
import { planFusedStep, type FusedKey, type FusedStepPlan } from '@emosens/optimizers';
import type { Tensor } from '@tensorflow/tfjs-core';

/**
 * The plan of one fused step on webgpu: `planFusedStep` of `@emosens/optimizers` reads
 * the composed layout (and declines what is not that layout); this adds what only WGSL
 * dispatches need. Returns the reason when the step cannot run fused (it then runs composed).
 */
export function planStep(key: FusedKey, args: FusedStepArgs<StateValue>): FusedStepPlan | string {
  const found = planFusedStep(key, args);
  if ('decline' in found) return found.decline;
  const { plan } = found;
  // A dispatch needs a non-empty buffer to bind.
  const empty = plan.params.find((s) => s.param.size === 0);
  if (empty) return `parameter '${empty.name}' is empty (no storage to bind)`;
  return aliasing(plan, args.loss) ?? plan;
}

/**
 * Inputs that are also written in place would alias within a dispatch: every written
 * tensor must have storage of its own, and no read-only input may share it.
 */
function aliasing(plan: FusedStepPlan, loss: FusedStepArgs<StateValue>['loss']): string | undefined {
  const { emotion } = plan;
  const writtenTensors: Tensor[] = [
    ...(emotion ? [emotion.count, emotion.short, emotion.long, emotion.scalar, emotion.history, emotion.calm] : []),
    ...(plan.adamCount ? [plan.adamCount] : []),
    ...plan.params.flatMap((s) => [...s.state, ...(s.shadow ? [s.shadow.value, s.shadow.taken] : [])]),
    ...plan.params.map((s) => s.param),
  ];
  const written = new Set<object>();
  for (const t of writtenTensors) {
    // Two state entries on one storage (e.g. `short` and `long` right after a composed
    // first step, both clones of the loss) would be bound writable twice in one dispatch
    // (or, across dispatches, written twice).
    if (written.has(t.dataId)) return 'two state tensors share one storage';
    written.add(t.dataId);
  }
  for (const s of plan.params) {
    if (written.has(s.grad.dataId)) return `gradient '${s.name}' shares storage with the state`;
  }
  if (isTensor(loss) && written.has(loss.dataId)) return 'the loss shares storage with the state';
  return undefined;
}
