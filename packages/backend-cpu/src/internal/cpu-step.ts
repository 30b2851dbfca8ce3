import {
  collectTensors,
  EmosensError,
  isTensor,
  type FusedStepArgs,
  type FusedStepResult,
  type Signals,
  type StateValue,
} from '@emosens/core';
import type {} from '@emosens/emotion'; // declares the `emotion` and `calm` signals
import {
  planFusedStep,
  replaceStateTensors,
  type FusedEmotionSlots,
  type FusedKey,
  type FusedParamSlots,
  type FusedStepPlan,
} from '@emosens/optimizers';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { findCpuBackend, isCpuTensor, readValues, StepStorage } from './cpu-storage.js';
import { readLoss, stepEmotion } from './emotion.js';
import { inputsFinite } from './finite.js';
import { f, filterThreshold, type Precision } from './float32.js';
import { readTaken, shadowRatio, stepShadowSlot, type ShadowBlend } from './shadow.js';
import { advanceStepCount, readStepCount } from './step-count.js';

/** One parameter with a gradient this step, ready for an element loop. */
export interface ParamEntry {
  readonly name: string;
  /** The parameter's values, written in place. */
  readonly p: Float32Array;
  /** The gradient's values (read only). */
  readonly g: Float32Array;
  /** The shadow blend of this step, when the shadow system blends this parameter. */
  readonly blend: ShadowBlend | undefined;
}

/** What an element loop sees: the step's plan and scalars, float32 as the composed ops round them. */
export interface StepContext {
  /** Round after every operation as the composed path does (`'exact'` precision), or only when storing (`'fast'`). */
  readonly exact: boolean;
  /** The shared plan: hyperparameters (`b1`, `b2`, `eps`...) and the state tensors. */
  readonly plan: FusedStepPlan;
  /** The Adam moments' step count before this step (AdamW's bias corrections use `count + 1`). */
  readonly count: number;
  /** The root filter's threshold `f(f(|s| + 1) * f(1e-4))` at this step's emotion scalar `s`. */
  readonly threshold: number;
  /** `scaleByEmotionStep`'s factor `f(1 - |s|)` (1 without emotion). */
  readonly factor: number;
  /** `f(weightDecay)`, or 0 when there is no decay term. */
  readonly decay: number;
  /** `f(-lr)`. */
  readonly negLr: number;
}

/**
 * One parameter's element loop: updates `e.p` and the parameter's state arrays in place,
 * `state` in the plan's order (`[mu, nu]`, `[row, col]` or `[moment]`).
 */
export type ParamLoop = (e: ParamEntry, state: readonly Float32Array[]) => void;

/** Makes the element loop of one kind of parameter for a step (its per-step constants computed once). */
export type LoopFactory = (ctx: StepContext) => ParamLoop;

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

function requireCpuBackend(kernel: string): MathBackendCPU {
  const backend = findCpuBackend();
  if (backend === undefined) throw new Error(`${kernel}: the tfjs cpu backend is not registered.`);
  return backend;
}

/**
 * `planFusedStep` of `@emosens/optimizers` (the one reading of the reference optimizers'
 * layout and options), its decline thrown as `INVALID_STATE` naming the kernel: the cpu
 * kernels check everything before they write anything, and refuse rather than run composed.
 */
function planOrThrow(key: FusedKey, kernel: string, args: FusedStepArgs<StateValue>): FusedStepPlan {
  const found = planFusedStep(key, args);
  if ('decline' in found) {
    throw new EmosensError('INVALID_STATE', `${kernel}: ${found.decline} (the fused step needs the layout and options of the composed optimizer).`);
  }
  return found.plan;
}

/**
 * The state with every repeated tensor object (one tensor at two leaves, e.g. after a
 * `setState` that points two counts at one scalar) replaced by a clone at its later
 * leaves, so that each leaf has a tensor of its own and the next state can be built by
 * replacing tensors (`replaceStateTensors`). A clone shares its storage (reference count
 * 2), so the step copies it before writing; the clones are returned, to dispose those
 * that the step replaced. The
 * same state object, and no clones, when nothing repeats (the usual case).
 */
function withDistinctLeaves(state: StateValue): { state: StateValue; clones: tf.Tensor[] } {
  const seen = new Set<tf.Tensor>();
  let repeats = false;
  const scan = (v: unknown): void => {
    if (isTensor(v)) {
      if (seen.has(v)) repeats = true;
      seen.add(v);
    } else if (Array.isArray(v)) v.forEach(scan);
    else if (typeof v === 'object' && v !== null) Object.values(v).forEach(scan);
  };
  scan(state);
  if (!repeats) return { state, clones: [] };
  const clones: tf.Tensor[] = [];
  const used = new Set<tf.Tensor>();
  const copy = (v: unknown): unknown => {
    if (isTensor(v)) {
      if (!used.has(v)) {
        used.add(v);
        return v;
      }
      const c = tf.clone(v);
      clones.push(c);
      return c;
    }
    if (Array.isArray(v)) return v.map(copy);
    if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)]));
    return v;
  };
  return { state: copy(state) as StateValue, clones };
}

/** The signals of an Emo step: the emotion state's own scalar and calm tensors (their copies where the step made one). */
function emoSignals(emotion: FusedEmotionSlots | undefined, replaced?: ReadonlyMap<tf.Tensor, tf.Tensor>): Partial<Signals> {
  if (emotion === undefined) return {};
  const own = (t: tf.Tensor) => (replaced?.get(t) ?? t) as tf.Scalar;
  return { emotion: own(emotion.scalar), calm: own(emotion.calm) };
}

/**
 * One step of the reference optimizer `key` on the cpu backend. The shared plan checks the
 * layout, options and loss; this adds what only the cpu kernels need (the step counts and
 * shadow flags read as numbers from cpu memory, storage written in place only where that
 * is safe), all before anything is written. Then it updates the emotion state, decides the
 * shadow branches in plain JS, and runs each parameter's element loop (`loops`, by the
 * plan's direction and filter). The returned state has the composed layout and reuses
 * every tensor it could write in place; the signals of an Emo step are the state's own
 * emotion scalar and calm tensors. With `skipNonFinite`, a NaN or Infinity in the loss or
 * a gradient (checked after the state, before anything is written) returns the same state
 * object and `finite: false`.
 */
export function runCpuStep(
  key: FusedKey,
  kernel: string,
  precision: Precision,
  loops: (slot: FusedParamSlots) => LoopFactory,
  args: FusedStepArgs<StateValue>,
): FusedStepResult<StateValue> {
  const backend = requireCpuBackend(kernel);
  // the composed path's MISSING_LOSS / INVALID_LOSS, before the plan (which would only decline)
  const loss = key === 'adamw' ? 0 : readLoss(backend, args.loss, kernel);
  let plan = planOrThrow(key, kernel, args);
  const emotionCount = plan.emotion ? readStepCount(backend, plan.emotion.count, kernel, "the emotion's step count") : 0;
  const count = plan.adamCount ? readStepCount(backend, plan.adamCount, kernel, "the Adam moments' step count") : 0;
  const taken = plan.params.map((s) => (s.shadow ? readTaken(backend, s.shadow, kernel, s.name) : 0));
  const signals = emoSignals(plan.emotion);
  if (args.skipNonFinite && !inputsFinite(backend, args.loss, args.grads)) {
    // nothing written: the same state (for an Emo step its own emotion and calm tensors as the signals)
    return { state: args.state, signals, finite: false };
  }

  const { state, clones } = withDistinctLeaves(args.state);
  if (state !== args.state) plan = planOrThrow(key, kernel, { ...args, state });
  const storage = new StepStorage(backend, [...Object.values(args.grads), isTensor(args.loss) ? args.loss : undefined]);
  const s = plan.emotion ? stepEmotion(storage, plan.emotion, emotionCount, loss) : 0;
  const ratio = plan.shadow ? shadowRatio(s) : 0;
  const ctx: StepContext = {
    exact: precision === 'exact',
    plan,
    count,
    threshold: filterThreshold(s),
    factor: f(1 - Math.abs(s)),
    decay: plan.weightDecay === 0 ? 0 : f(plan.weightDecay),
    negLr: f(-plan.lr),
  };
  const made = new Map<LoopFactory, ParamLoop>();
  plan.params.forEach((slot, i) => {
    const p = storage.writableVariable(slot.param);
    const blend = slot.shadow ? stepShadowSlot(storage, slot.shadow, taken[i]!, p, ratio) : undefined;
    const factory = loops(slot);
    let loop = made.get(factory);
    if (loop === undefined) made.set(factory, (loop = factory(ctx)));
    loop({ name: slot.name, p, g: readValues(backend, slot.grad), blend }, slot.state.map((t) => storage.writableValues(t)));
  });
  if (plan.adamCount) advanceStepCount(storage, plan.adamCount, count);
  const nextState = replaceStateTensors(state, storage.replaced);
  // a clone the step copied is in no state now; one it did not write stays in the next state
  tf.dispose(clones.filter((c) => storage.replaced.has(c)));
  const nextSignals = emoSignals(plan.emotion, storage.replaced);
  return args.skipNonFinite ? { state: nextState, signals: nextSignals, finite: true } : { state: nextState, signals: nextSignals };
}
