import { isTensor, type FusedStepArgs, type FusedStepResult, type StateValue } from '@emosens/core';
import { replaceStateTensors, type FusedStepPlan } from '@emosens/optimizers';
import type { Tensor } from '@tensorflow/tfjs-core';
import { recordStep } from '../diagnostics.js';
import { AdamCountProgram, CORRECTION_FLOATS } from '../programs/adam-count-program.js';
import { EmotionProgram } from '../programs/emotion-program.js';
import { FactoredStatsProgram } from '../programs/factored-stats-program.js';
import { FLAGS_PER_DISPATCH, ShadowFlagsProgram } from '../programs/shadow-flags-program.js';
import { UpdateProgram } from '../programs/update-program.js';
import { bufferOf, clearCpuCopy, exclusiveStorage, type WebGpuInternals } from './backend-internals.js';
import { scratchBuffer, StepRecorder } from './step-recorder.js';

/**
 * Runs one fused step on the webgpu backend: one dispatch for the emotion (which also
 * advances the step counts of the Emo optimizers) or, for AdamW, one for its count and bias
 * corrections; one per parameter (two for EmoAiry's matrices); and one per 7 parameters for
 * the shadow flags; all recorded into the backend's command encoder and submitted together.
 * Nothing is read back to the CPU: the step counts are state tensors, read and advanced on
 * the device. Parameters and state are written in place; storage shared with another
 * tensor is copied first (once).
 */
export function runFusedStep(internals: WebGpuInternals, plan: FusedStepPlan, args: FusedStepArgs<StateValue>): FusedStepResult<StateValue> {
  const replaced = new Map<Tensor, Tensor>();
  let copies = 0;
  const writable = (t: Tensor): Tensor => {
    const own = replaced.get(t) ?? exclusiveStorage(internals, t);
    if (own !== t && !replaced.has(t)) {
      replaced.set(t, own);
      copies += 1;
    }
    return own;
  };
  const written: Tensor[] = [];
  const writeBuffer = (t: Tensor): GPUBuffer => {
    const own = writable(t);
    written.push(own);
    return bufferOf(internals, own);
  };

  // Parameters are variables: give each its own storage once, then write it in place.
  for (const slot of plan.params) {
    const own = exclusiveStorage(internals, slot.param);
    if (own !== slot.param) {
      slot.param.assign(own);
      own.dispose();
      copies += 1;
    }
  }

  const emotion = plan.emotion;
  const loss = args.loss;
  const hyper = {
    b1: plan.b1,
    oneMinusB1: 1 - plan.b1,
    b2: plan.b2,
    oneMinusB2: 1 - plan.b2,
    eps: plan.eps,
    weightDecay: plan.weightDecay,
    negLr: -plan.lr,
    logB1: logBeta(plan.b1),
    logB2: logBeta(plan.b2),
    loss: typeof loss === 'number' ? loss : 0,
  };

  // Every buffer is resolved (uploads and copies encoded) before the compute pass begins.
  const adamCountBuffer = plan.adamCount ? writeBuffer(plan.adamCount) : undefined;
  const emotionBuffers = emotion
    ? [
        ...(isTensor(loss) ? [bufferOf(internals, loss)] : []),
        writeBuffer(emotion.count),
        writeBuffer(emotion.short),
        writeBuffer(emotion.long),
        writeBuffer(emotion.scalar),
        writeBuffer(emotion.history),
        writeBuffer(emotion.calm),
        ...(adamCountBuffer ? [adamCountBuffer] : []),
      ]
    : [];
  const corrections = plan.biasCorrection ? scratchBuffer(internals.device, 'corrections', CORRECTION_FLOATS) : undefined;
  const scalarBuffer = emotion ? bufferOf(internals, writable(emotion.scalar)) : undefined;
  const paramBuffers = plan.params.map((slot) => ({
    slot,
    param: bufferOf(internals, slot.param),
    grad: bufferOf(internals, slot.grad),
    state: slot.state.map(writeBuffer),
    shadow: slot.shadow ? [writeBuffer(slot.shadow.value), writeBuffer(slot.shadow.taken)] : [],
    mask: slot.direction === 'factored' ? scratchBuffer(internals.device, 'mask', slot.param.shape[0]! + slot.state[1]!.size) : undefined,
  }));
  written.push(...plan.params.map((s) => s.param));

  const recorder = new StepRecorder(internals, hyper);
  // The step counts advance exactly once per step, in a one-invocation dispatch before the
  // updates: the emotion's (with the Emo optimizers' Adam count, which no update reads), or
  // AdamW's with its bias corrections, which the updates then read from `corrections`.
  if (emotion) {
    recorder.dispatch(new EmotionProgram({ lossFromBuffer: isTensor(loss), adamCount: adamCountBuffer !== undefined }), emotionBuffers, 1);
  } else if (adamCountBuffer) {
    if (!corrections) throw new Error('webgpu fused kernel: an Adam count without an emotion needs bias corrections (AdamW)');
    recorder.dispatch(new AdamCountProgram(), [adamCountBuffer, corrections], 1);
  }
  const decay = plan.weightDecay > 0;
  for (const b of paramBuffers) {
    const { slot } = b;
    const emo = scalarBuffer ? [scalarBuffer] : [];
    if (b.mask) {
      recorder.dispatch(new FactoredStatsProgram(), [b.grad, b.state[0]!, b.state[1]!, b.mask, ...emo], slot.param.shape[0]! + slot.state[1]!.size);
    }
    const program = new UpdateProgram({
      direction: slot.direction,
      filter: slot.filter,
      emotion: emotion !== undefined,
      shadow: slot.shadow !== undefined,
      biasCorrection: corrections !== undefined,
      decay,
    });
    const correctionBuffers = corrections && slot.direction === 'adam' ? [corrections] : [];
    recorder.dispatch(program, [b.param, b.grad, ...b.state, ...(b.mask ? [b.mask] : []), ...correctionBuffers, ...emo, ...b.shadow], slot.param.size);
  }
  if (scalarBuffer) {
    const flags = paramBuffers.filter((b) => b.shadow.length > 0).map((b) => b.shadow[1]!);
    for (let k = 0; k < flags.length; k += FLAGS_PER_DISPATCH) {
      const group = flags.slice(k, k + FLAGS_PER_DISPATCH);
      recorder.dispatch(new ShadowFlagsProgram(group.length), [scalarBuffer, ...group], 1);
    }
  }
  recorder.submit();
  for (const t of written) clearCpuCopy(internals, t);
  recordStep({ key: plan.key, dispatches: recorder.dispatches, copies });

  const state = replaceStateTensors(args.state, replaced);
  if (!emotion) return { state, signals: {} };
  const e = (state as { emotion: { scalar: Tensor; calm: Tensor } }).emotion;
  return { state, signals: { emotion: e.scalar, calm: e.calm } as FusedStepResult<StateValue>['signals'] };
}

/**
 * `ln(beta)` for the uniform block, kept finite: a beta of 0 (valid) has `ln = -Infinity`,
 * which WGSL does not promise to carry through arithmetic. Any value at or below -104
 * gives the same bias correction, `1 - e^(t ln b) = 1` (e^-104 is below float32's range).
 */
function logBeta(beta: number): number {
  return Math.max(Math.log(beta), -104);
}
