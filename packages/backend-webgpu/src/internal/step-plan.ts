import { flattenState, isTensor, validateLoss, type FusedStepArgs, type StateValue } from '@emosens/core';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import type { FusedKey } from '../fused-keys.js';
import type { Direction, Filter } from '../programs/update-program.js';

/** The emotion state (`state.emotion` of the Emo optimizers). */
export interface EmotionSlots {
  /** Steps seen, a float32 scalar read and advanced on the device. */
  readonly count: Tensor;
  readonly short: Tensor;
  readonly long: Tensor;
  readonly scalar: Tensor;
  readonly history: Tensor;
  readonly calm: Tensor;
}

/** One parameter and the state tensors its dispatch writes. */
export interface ParamSlots {
  readonly name: string;
  readonly param: Variable;
  readonly grad: Tensor;
  readonly direction: Direction;
  readonly filter: Filter;
  /** `[mu, nu]` (adam), `[moment]` (lion) or `[row, col]` (factored). */
  readonly state: readonly Tensor[];
  readonly shadow?: { readonly value: Tensor; readonly taken: Tensor };
}

/** Everything one fused step needs, found in the arguments; see {@link planStep}. */
export interface StepPlan {
  readonly key: FusedKey;
  readonly emotion?: EmotionSlots;
  readonly params: readonly ParamSlots[];
  readonly shadow: boolean;
  /** The Adam step count (float32 scalar) the step advances on the device, if the optimizer has one. */
  readonly adamCount?: Tensor;
  /** Bias-correct the Adam moments (AdamW), from the count, on the device. */
  readonly biasCorrection: boolean;
  readonly lr: number;
  readonly b1: number;
  readonly b2: number;
  readonly eps: number;
  readonly weightDecay: number;
}

type Obj = Readonly<Record<string, unknown>>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !isTensor(v);
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function floatTensor(v: unknown, shape: readonly number[]): v is Tensor {
  return isTensor(v) && v.dtype === 'float32' && !v.isDisposed && sameShape(v.shape, shape);
}

function scalarLike(v: unknown, dtype: 'float32' | 'bool'): v is Tensor {
  return isTensor(v) && v.dtype === dtype && !v.isDisposed && v.size === 1;
}

function isVariable(t: Tensor): t is Variable {
  return typeof (t as Partial<Variable>).assign === 'function';
}

function readEmotion(v: unknown): EmotionSlots | string {
  if (!isObj(v)) return 'state.emotion is missing';
  const { count, short, long, scalar, history, calm } = v;
  if (!scalarLike(count, 'float32')) return 'state.emotion.count must be a float32 scalar';
  if (!scalarLike(short, 'float32') || !scalarLike(long, 'float32') || !scalarLike(scalar, 'float32')) {
    return 'state.emotion.short/long/scalar must be float32 scalars';
  }
  if (!isTensor(history) || history.dtype !== 'float32' || history.rank !== 1 || history.size < 1 || history.isDisposed) {
    return 'state.emotion.history must be a float32 vector';
  }
  if (!scalarLike(calm, 'bool')) return 'state.emotion.calm must be a bool scalar';
  return { count, short, long, scalar, history, calm };
}

function number(options: FusedStepArgs<StateValue>['options'], name: string): number | undefined {
  const v = options[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/**
 * Finds every tensor a fused step of `key` reads and writes, checking that the state has
 * exactly the layout the composed optimizer's `init` gives it. Returns the reason when it
 * does not (the step then runs composed).
 */
export function planStep(key: FusedKey, args: FusedStepArgs<StateValue>): StepPlan | string {
  const { params, grads, state, options } = args;
  const lr = number(options, 'lr');
  const b1 = number(options, 'b1');
  const b2 = number(options, 'b2');
  const eps = number(options, 'eps');
  const weightDecay = number(options, 'weightDecay');
  if (lr === undefined || b1 === undefined || b2 === undefined || eps === undefined || weightDecay === undefined) {
    return 'options lr, b1, b2, eps and weightDecay must be finite numbers';
  }
  const shadow = key !== 'adamw' && options.useShadow === true;
  if (!isObj(state)) return 'state is not an object';
  // Every leaf lives on the device (the counts included), so the step never reads back and
  // nothing is left for the CPU to advance (e.g. a learning-rate schedule's step count).
  let onHost: { path: string } | undefined;
  try {
    onHost = flattenState(state).find((leaf) => !isTensor(leaf.value));
  } catch (e) {
    return (e as Error).message;
  }
  if (onHost) return `state leaf '${onHost.path}' is not a tensor (the fused kernel advances only tensor state)`;

  let emotion: EmotionSlots | undefined;
  let body: Obj;
  let shadows: Obj | undefined;
  if (key === 'adamw') {
    if (!isObj(state.moments)) return 'state.moments is missing';
    body = { direction: state.moments };
  } else {
    try {
      if (args.loss === undefined) return 'no loss';
      validateLoss(args.loss);
    } catch (e) {
      return (e as Error).message;
    }
    const e = readEmotion(state.emotion);
    if (typeof e === 'string') return e;
    emotion = e;
    const step = state.step;
    if (!isObj(step)) return 'state.step is missing';
    if (shadow) {
      if (!isObj(step.inner) || !isObj(step.shadow)) return 'state.step.inner/shadow are missing (useShadow)';
      body = step.inner;
      shadows = step.shadow;
    } else {
      body = step;
    }
  }
  const direction = body.direction;
  if (!isObj(direction) && !Array.isArray(direction)) return 'the direction state is missing';
  const dir = direction as Obj;
  let adamCount: Tensor | undefined;
  if (key !== 'emoCats') {
    const moments = key === 'emoAiry' ? dir.dense : dir;
    const count = isObj(moments) ? moments.count : undefined;
    if (!scalarLike(count, 'float32')) return 'the Adam count must be a float32 scalar';
    adamCount = count;
  }

  const slots: ParamSlots[] = [];
  for (const [name, grad] of Object.entries(grads)) {
    const param = params[name];
    if (param === undefined || !isVariable(param) || param.dtype !== 'float32' || param.size === 0) {
      return `parameter '${name}' must be a non-empty float32 variable`;
    }
    if (!floatTensor(grad, param.shape)) return `gradient '${name}' must be float32 of the parameter's shape`;
    let slot: Omit<ParamSlots, 'shadow'>;
    if (key === 'emoSens' || key === 'adamw' || (key === 'emoAiry' && param.rank < 2)) {
      const moments = key === 'emoAiry' ? dir.dense : dir;
      if (!isObj(moments) || !isObj(moments.mu) || !isObj(moments.nu)) return 'the Adam moments (mu, nu) are missing';
      const mu = moments.mu[name];
      const nu = moments.nu[name];
      if (!floatTensor(mu, param.shape) || !floatTensor(nu, param.shape)) return `moments of '${name}' are missing or misshapen`;
      const filter: Filter = key === 'adamw' ? 'none' : key === 'emoAiry' ? 'squareAbove' : 'absAtLeast';
      slot = { name, param, grad, direction: 'adam', filter, state: [mu, nu] };
    } else if (key === 'emoAiry') {
      const factored = dir.factored;
      const s = isObj(factored) ? factored[name] : undefined;
      if (!isObj(s)) return `factored moments of '${name}' are missing`;
      if (!floatTensor(s.row, [param.shape[0]!]) || !floatTensor(s.col, param.shape.slice(1))) {
        return `factored moments of '${name}' are misshapen`;
      }
      slot = { name, param, grad, direction: 'factored', filter: 'factored', state: [s.row, s.col] };
    } else {
      const moments = dir[0];
      const m = isObj(moments) ? moments[name] : undefined;
      if (!floatTensor(m, param.shape)) return `Lion moment of '${name}' is missing or misshapen`;
      slot = { name, param, grad, direction: 'lion', filter: 'absAtLeast', state: [m] };
    }
    if (shadow) {
      const s = shadows![name];
      if (!isObj(s) || !floatTensor(s.value, param.shape) || !scalarLike(s.taken, 'float32')) {
        return `the shadow of '${name}' is missing or misshapen`;
      }
      slots.push({ ...slot, shadow: { value: s.value, taken: s.taken } });
    } else {
      slots.push(slot);
    }
  }
  // Inputs that are also written in place would alias within a dispatch.
  const written = new Set<object>();
  const writtenTensors: Tensor[] = [
    ...(emotion ? [emotion.count, emotion.short, emotion.long, emotion.scalar, emotion.history, emotion.calm] : []),
    ...(adamCount ? [adamCount] : []),
    ...slots.flatMap((s) => [...s.state, ...(s.shadow ? [s.shadow.value, s.shadow.taken] : [])]),
  ];
  for (const t of [...writtenTensors, ...slots.map((s) => s.param)]) {
    // Two state entries on one storage (e.g. `short` and `long` right after a composed
    // first step, both clones of the loss) would be bound writable twice in one dispatch
    // (or, across dispatches, written twice).
    if (written.has(t.dataId)) return 'two state tensors share one storage';
    written.add(t.dataId);
  }
  for (const s of slots) {
    if (written.has(s.grad.dataId)) return `gradient '${s.name}' shares storage with the state`;
  }
  if (isTensor(args.loss) && written.has(args.loss.dataId)) return 'the loss shares storage with the state';

  return {
    key,
    ...(emotion ? { emotion } : {}),
    params: slots,
    shadow,
    ...(adamCount ? { adamCount } : {}),
    biasCorrection: key === 'adamw',
    lr,
    b1,
    b2,
    eps,
    weightDecay,
  };
}

/**
 * The next state: the same layout and the same tensors (written in place, the counts
 * included), each replaced by its copy where a step had to copy it before writing.
 */
export function nextState(state: StateValue, replaced: ReadonlyMap<Tensor, Tensor>): StateValue {
  const visit = (value: unknown): unknown => {
    if (isTensor(value)) return replaced.get(value) ?? value;
    if (Array.isArray(value)) return value.map(visit);
    if (typeof value === 'object' && value !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = visit(v);
      return out;
    }
    return value;
  };
  return visit(state) as StateValue;
}
