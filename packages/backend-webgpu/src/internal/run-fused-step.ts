import { isTensor, type FusedStepArgs, type FusedStepResult, type StateValue } from '@emosens/core';
import { replaceStateTensors, type FusedStepPlan } from '@emosens/optimizers';
import { engine, type Scalar, type Tensor } from '@tensorflow/tfjs-core';
import { recordStep } from '../diagnostics.js';
import { AdamCountProgram, CORRECTION_FLOATS } from '../programs/adam-count-program.js';
import { EmotionProgram } from '../programs/emotion-program.js';
import { FactoredStatsProgram } from '../programs/factored-stats-program.js';
import { FiniteCheckProgram, INPUTS_PER_CHECK } from '../programs/finite-check-program.js';
import { FLAGS_PER_DISPATCH, ShadowFlagsProgram } from '../programs/shadow-flags-program.js';
import { UpdateProgram } from '../programs/update-program.js';
import { bufferOf, clearCpuCopy, exclusiveStorage, type WebGpuInternals } from './backend-internals.js';
import { scratchBuffer, StepRecorder } from './step-recorder.js';
import { GUARD, GUARD_WORDS } from './wgsl.js';

/**
 * Runs one fused step on the webgpu backend: one dispatch for the emotion (which also
 * advances the step counts of the Emo optimizers) or, for AdamW, one for its count and bias
 * corrections; one per parameter (two for EmoAiry's matrices); and one per 7 parameters for
 * the shadow flags; all recorded into the backend's command encoder and submitted together.
 * Nothing is read back to the CPU: the step counts are state tensors, read and advanced on
 * the device. Parameters and state are written in place; storage shared with another
 * tensor is copied first (once).
 *
 * With `skipNonFinite`, {@link FiniteCheckProgram} dispatches come first: they clear the
 * `ok` word of a guard buffer (set to 1 by the host) when the loss or a gradient holds
 * NaN or ±Infinity, and every later dispatch returns at once when it is 0, so a skipped
 * step writes nothing. `finite` is a new bool scalar (the caller's) that the guard's `ok`
 * word is copied into, on the device. A number loss is checked on the host: a non-finite
 * one returns `finite: false` before anything is recorded.
 */
export function runFusedStep(internals: WebGpuInternals, plan: FusedStepPlan, args: FusedStepArgs<StateValue>): FusedStepResult<StateValue> {
  const guarded = args.skipNonFinite === true;
  if (guarded && typeof args.loss === 'number' && !Number.isFinite(Math.fround(args.loss))) {
    recordStep({ key: plan.key, dispatches: 0, copies: 0 });
    return { state: args.state, signals: signalsOf(args.state, plan), finite: false };
  }
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
  const lossBuffer = isTensor(loss) ? bufferOf(internals, loss) : undefined;
  const guard = guarded ? scratchBuffer(internals.device, 'guard', GUARD_WORDS) : undefined;
  const finiteInfo = guarded ? internals.makeTensorInfo([], 'bool') : undefined;
  const finiteBuffer = finiteInfo ? bufferOf(internals, finiteInfo) : undefined;
  const adamCountBuffer = plan.adamCount ? writeBuffer(plan.adamCount) : undefined;
  const emotionBuffers = emotion
    ? [
        ...(guard ? [guard] : lossBuffer ? [lossBuffer] : []),
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
  // What the later dispatches read the emotion scalar from (guarded: the guard's copy of it).
  const emotionSource = guard ?? scalarBuffer;
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
  if (guard) {
    // ok = 1, and a number loss's float32 bits (a tensor loss's are copied by the check).
    // Queued now, so ordered after every earlier step (each submits) and before this one.
    const words = new Int32Array(GUARD_WORDS);
    words[GUARD.ok] = 1;
    if (typeof loss === 'number') new Float32Array(words.buffer)[GUARD.loss] = loss;
    internals.queue.writeBuffer(guard, 0, words);
    const inputs = [...(lossBuffer ? [{ buffer: lossBuffer, size: 1 }] : []), ...plan.params.map((s) => ({ buffer: bufferOf(internals, s.grad), size: s.grad.size }))];
    for (let k = 0; k < inputs.length; k += INPUTS_PER_CHECK) {
      const group = inputs.slice(k, k + INPUTS_PER_CHECK);
      const program = new FiniteCheckProgram({ inputs: group.length, loss: k === 0 && lossBuffer !== undefined });
      recorder.dispatch(program, [guard, ...group.map((g) => g.buffer)], Math.max(...group.map((g) => g.size)));
    }
  }
  // The step counts advance exactly once per step, in a one-invocation dispatch before the
  // updates: the emotion's (with the Emo optimizers' Adam count, which no update reads), or
  // AdamW's with its bias corrections, which the updates then read from `corrections`.
  if (emotion) {
    recorder.dispatch(new EmotionProgram({ lossFromBuffer: lossBuffer !== undefined, adamCount: adamCountBuffer !== undefined, guarded }), emotionBuffers, 1);
  } else if (adamCountBuffer) {
    if (!corrections) throw new Error('webgpu fused kernel: an Adam count without an emotion needs bias corrections (AdamW)');
    recorder.dispatch(new AdamCountProgram(guarded), [adamCountBuffer, corrections, ...(guard ? [guard] : [])], 1);
  }
  const decay = plan.weightDecay > 0;
  for (const b of paramBuffers) {
    const { slot } = b;
    const emo = emotionSource ? [emotionSource] : [];
    if (b.mask) {
      recorder.dispatch(new FactoredStatsProgram(guarded), [b.grad, b.state[0]!, b.state[1]!, b.mask, ...emo], slot.param.shape[0]! + slot.state[1]!.size);
    }
    const program = new UpdateProgram({
      direction: slot.direction,
      filter: slot.filter,
      emotion: emotion !== undefined,
      shadow: slot.shadow !== undefined,
      biasCorrection: corrections !== undefined,
      decay,
      guarded,
    });
    const correctionBuffers = corrections && slot.direction === 'adam' ? [corrections] : [];
    recorder.dispatch(program, [b.param, b.grad, ...b.state, ...(b.mask ? [b.mask] : []), ...correctionBuffers, ...emo, ...b.shadow], slot.param.size);
  }
  if (emotionSource && emotion) {
    const flags = paramBuffers.filter((b) => b.shadow.length > 0).map((b) => b.shadow[1]!);
    for (let k = 0; k < flags.length; k += FLAGS_PER_DISPATCH) {
      const group = flags.slice(k, k + FLAGS_PER_DISPATCH);
      recorder.dispatch(new ShadowFlagsProgram(group.length, guarded), [emotionSource, ...group], 1);
    }
  }
  // `finite` is the guard's final `ok` word (bool tensors are stored as i32 0/1).
  if (guard && finiteBuffer) recorder.copy(guard, GUARD.ok * 4, finiteBuffer, 4);
  recorder.submit();
  for (const t of written) clearCpuCopy(internals, t);
  recordStep({ key: plan.key, dispatches: recorder.dispatches, copies });

  const state = replaceStateTensors(args.state, replaced);
  const signals = signalsOf(state, plan);
  if (!finiteInfo) return { state, signals };
  return { state, signals, finite: engine().makeTensorFromTensorInfo(finiteInfo) as Scalar };
}

/** The emotion and calm signals of the Emo optimizers: the state's own tensors. */
function signalsOf(state: StateValue, plan: FusedStepPlan): FusedStepResult<StateValue>['signals'] {
  if (!plan.emotion) return {};
  const e = (state as { emotion: { scalar: Tensor; calm: Tensor } }).emotion;
  return { emotion: e.scalar, calm: e.calm } as FusedStepResult<StateValue>['signals'];
}

/**
 * `ln(beta)` for the uniform block, kept finite: a beta of 0 (valid) has `ln = -Infinity`,
 * which WGSL does not promise to carry through arithmetic. Any value at or below -104
 * gives the same bias correction, `1 - e^(t ln b) = 1` (e^-104 is below float32's range).
 */
function logBeta(beta: number): number {
  return Math.max(Math.log(beta), -104);
}
