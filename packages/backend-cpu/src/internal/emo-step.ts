import { collectTensors, isTensor, type FusedStepArgs, type FusedStepResult, type StateValue } from '@emosens/core';
import type {} from '@emosens/emotion'; // declares the `emotion` and `calm` signals
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { Tensor } from '@tensorflow/tfjs-core';
import { findCpuBackend, isCpuTensor, readValues, StepStorage } from './cpu-storage.js';
import { readEmotionState, readLoss, stepEmotion } from './emotion.js';
import { inputsFinite } from './finite.js';
import { f, filterThreshold } from './float32.js';
import { readHyper, type FusedHyper, type Precision } from './options.js';
import { readShadowSlot, shadowRatio, stepShadowSlot, type ShadowBlend, type ShadowSlot } from './shadow.js';
import { StateReader } from './state-access.js';

type Obj = { readonly [key: string]: StateValue };

/** One parameter with a gradient this step, ready for an element loop. */
export interface ParamEntry {
  readonly name: string;
  readonly shape: readonly number[];
  /** The parameter's values, written in place. */
  readonly p: Float32Array;
  /** The gradient's values (read only). */
  readonly g: Float32Array;
  /** The shadow blend of this step, when the shadow system blends this parameter. */
  readonly blend: ShadowBlend | undefined;
}

/** What a direction's update sees: the step's scalars, float32 as the composed ops round them. */
export interface EmoStepContext {
  readonly storage: StepStorage;
  /** Round after every operation as the composed path does (`'exact'` precision), or only when storing (`'fast'`). */
  readonly exact: boolean;
  readonly hyper: FusedHyper;
  /** The emotion scalar of this step. */
  readonly emotion: number;
  /** The root filter's threshold `f(f(|s| + 1) * f(1e-4))`. */
  readonly threshold: number;
  /** `scaleByEmotionStep`'s factor `f(1 - |s|)`. */
  readonly factor: number;
  /** `f(weightDecay)`, or 0 when there is no decay term. */
  readonly decay: number;
  /** `f(-lr)`. */
  readonly negLr: number;
  readonly entries: readonly ParamEntry[];
}

/** An Emo optimizer's direction (the `direction` entry of its state), for {@link runEmoStep}. */
export interface EmoDirection<D> {
  /** Reads and checks the direction state for the parameters with gradients; nothing is written yet. */
  read(
    direction: StateValue | undefined,
    path: string,
    names: readonly string[],
    shapes: readonly (readonly number[])[],
    read: StateReader,
    backend: MathBackendCPU,
  ): D;
  /** Runs the element loops of every parameter and returns the new direction state (same layout). */
  update(ctx: EmoStepContext, state: D): StateValue;
}

/**
 * Whether the cpu kernels can run these arguments: every parameter, gradient, state
 * tensor and a tensor loss lives in the cpu backend's memory with the expected dtype.
 * Otherwise the step takes the composed path (which moves data between backends).
 */
export function onCpu(args: FusedStepArgs<StateValue>): boolean {
  const backend = findCpuBackend();
  if (backend === undefined) return false;
  for (const t of Object.values(args.params)) if (!isCpuTensor(backend, t)) return false;
  for (const t of Object.values(args.grads)) if (!isCpuTensor(backend, t)) return false;
  if (isTensor(args.loss) && !isCpuTensor(backend, args.loss)) return false;
  for (const t of collectTensors(args.state)) {
    if (!isCpuTensor(backend, t, t.dtype === 'bool' ? 'bool' : 'float32')) return false;
  }
  return true;
}

export function requireCpuBackend(kernel: string): MathBackendCPU {
  const backend = findCpuBackend();
  if (backend === undefined) throw new Error(`${kernel}: the tfjs cpu backend is not registered.`);
  return backend;
}

/**
 * One step of an Emo optimizer (`chain({ emotion: trackEmotion(), step: [withShadow](chain({
 * direction, emotionStep, decay, lr })) })`) on the cpu backend: reads and checks the
 * whole state first, then updates the emotion state in place, decides the shadow
 * branches in plain JS, and hands each parameter to the direction's element loop.
 * The returned state has the composed layout and reuses every tensor it could write in
 * place; the signals are the state's own emotion scalar and calm tensors. With
 * `skipNonFinite`, a NaN or Infinity in the loss or a gradient (checked after the state,
 * before anything is written) returns the same state object and `finite: false`.
 */
export function runEmoStep<D>(
  kernel: string,
  direction: EmoDirection<D>,
  precision: Precision,
  args: FusedStepArgs<StateValue>,
): FusedStepResult<StateValue> {
  const backend = requireCpuBackend(kernel);
  const hyper = readHyper(kernel, args.options);
  const loss = readLoss(backend, args.loss, kernel);
  const read = new StateReader(kernel);

  // Read and check everything before writing anything.
  const root = read.object(args.state, '(root)');
  const emotionState = readEmotionState(backend, root.emotion, read);
  const step = read.object(root.step, 'step');
  const bodyPath = hyper.useShadow ? 'step/inner' : 'step';
  const body = hyper.useShadow ? read.object(step.inner, bodyPath) : step;
  const names = Object.keys(args.grads);
  const shapes = names.map((n) => args.params[n]!.shape);
  const shadowState = hyper.useShadow ? read.object(step.shadow, 'step/shadow') : undefined;
  const slots = shadowState
    ? names.map((n, i) => readShadowSlot(backend, shadowState[n], `step/shadow/${n}`, read, shapes[i]!))
    : undefined;
  const directionState = direction.read(body.direction, `${bodyPath}/direction`, names, shapes, read, backend);
  const signals = { emotion: emotionState.scalar, calm: emotionState.calm };
  if (args.skipNonFinite && !inputsFinite(backend, args.loss, args.grads)) {
    // nothing written: the same state, its own emotion and calm tensors as the signals
    return { state: args.state, signals, finite: false };
  }

  const storage = new StepStorage(backend, [...Object.values(args.grads), isTensor(args.loss) ? args.loss : undefined]);
  const emotion = stepEmotion(storage, emotionState, loss);
  const s = emotion.scalar;
  const ratio = hyper.useShadow ? shadowRatio(s) : 0;
  const nextSlots: Record<string, ShadowSlot & Obj> = {};
  const entries: ParamEntry[] = names.map((name, i) => {
    const p = storage.writableVariable(args.params[name]!);
    let blend: ShadowBlend | undefined;
    if (slots) {
      const r = stepShadowSlot(storage, slots[i]!, p, ratio);
      nextSlots[name] = { ...r.slot };
      blend = r.blend;
    }
    return { name, shape: shapes[i]!, p, g: readValues(backend, args.grads[name]!), blend };
  });

  const ctx: EmoStepContext = {
    storage,
    exact: precision === 'exact',
    hyper,
    emotion: s,
    threshold: filterThreshold(s),
    factor: f(1 - Math.abs(s)),
    decay: hyper.weightDecay === 0 ? 0 : f(hyper.weightDecay),
    negLr: f(-hyper.lr),
    entries,
  };
  // the other entries of the body (the cooled step, decay and learning rate) keep no state
  const nextBody: Obj = { ...body, direction: direction.update(ctx, directionState) };
  const nextStep: Obj = shadowState ? { ...step, inner: nextBody, shadow: { ...shadowState, ...nextSlots } } : nextBody;
  const nextState: Obj = { ...root, emotion: emotion.state, step: nextStep };
  const nextSignals = { emotion: emotion.state.scalar, calm: emotion.state.calm };
  return args.skipNonFinite ? { state: nextState, signals: nextSignals, finite: true } : { state: nextState, signals: nextSignals };
}

/** Replaces the entries of a per-parameter map. */
export function withEntries(map: Obj, entries: Readonly<Record<string, Tensor>>): Obj {
  return { ...map, ...entries };
}
