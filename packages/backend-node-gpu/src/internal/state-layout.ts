import { isTensor, validateLoss, type FusedStepArgs, type StateValue } from '@emosens/core';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import type { FusedKey } from '../fused-keys.js';

/** The emotion state of the Emo optimizers (`state.emotion`). */
export interface EmotionSlots {
  /** Steps seen so far, a float32 scalar. */
  readonly count: Tensor;
  readonly short: Tensor;
  readonly long: Tensor;
  readonly history: Tensor;
}

/** How a parameter's direction is computed. */
export type Direction = 'adam' | 'lion' | 'factored';
/** Which root filter masks it: `|g| >= thr^3`, `g^2 > thr^3`, factored rows/columns, or none. */
export type Filter = 'none' | 'abs' | 'square' | 'factored';

/** One parameter with its state tensors. */
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

export interface StepPlan {
  readonly key: FusedKey;
  readonly emotion?: EmotionSlots;
  readonly params: readonly ParamSlots[];
  /**
   * The Adam moments' step count (a float32 scalar): AdamW's bias corrections use
   * `t = count + 1`; the Emo optimizers' Adam moments only advance it.
   */
  readonly adamCount?: Tensor;
  readonly lr: number;
  readonly b1: number;
  readonly b2: number;
  readonly eps: number;
  readonly weightDecay: number;
}

type Obj = Readonly<Record<string, unknown>>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !isTensor(v);
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const floatTensor = (v: unknown, shape: readonly number[]): v is Tensor =>
  isTensor(v) && v.dtype === 'float32' && !v.isDisposed && sameShape(v.shape, shape);
const scalarLike = (v: unknown, dtype: string): v is Tensor => isTensor(v) && v.dtype === dtype && !v.isDisposed && v.size === 1;

function finite(options: FusedStepArgs<StateValue>['options'], name: string): number | undefined {
  const v = options[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/**
 * Finds the tensors a step of `key` reads, checking that the state has the layout of
 * the composed optimizer's `init` (see `@emosens/optimizers`). Returns the reason when
 * it does not; the step then runs composed, which raises the usual errors.
 */
export function planStep(key: FusedKey, args: FusedStepArgs<StateValue>): StepPlan | string {
  const { params, grads, state, options } = args;
  const [lr, b1, b2, eps, weightDecay] = ['lr', 'b1', 'b2', 'eps', 'weightDecay'].map((n) => finite(options, n));
  if (lr === undefined || b1 === undefined || b2 === undefined || eps === undefined || weightDecay === undefined) {
    return 'options lr, b1, b2, eps and weightDecay must be finite numbers';
  }
  const shadow = key !== 'adamw' && options.useShadow === true;
  if (!isObj(state)) return 'state is not an object';

  let emotion: EmotionSlots | undefined;
  let body: Obj;
  let shadows: Obj | undefined;
  if (key === 'adamw') {
    if (!isObj(state.moments)) return 'state.moments is missing';
    body = { direction: state.moments };
  } else {
    if (args.loss === undefined) return 'no loss';
    try {
      validateLoss(args.loss);
    } catch (e) {
      return (e as Error).message;
    }
    const e = state.emotion;
    if (!isObj(e) || !floatTensor(e.count, [])) return 'state.emotion.count must be a float32 scalar';
    if (!scalarLike(e.short, 'float32') || !scalarLike(e.long, 'float32') || !scalarLike(e.scalar, 'float32') || !scalarLike(e.calm, 'bool')) {
      return 'state.emotion.short/long/scalar (float32) and calm (bool) must be scalars';
    }
    if (!isTensor(e.history) || e.history.dtype !== 'float32' || e.history.rank !== 1 || e.history.size < 1) {
      return 'state.emotion.history must be a float32 vector';
    }
    emotion = { count: e.count, short: e.short, long: e.long, history: e.history };
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
  const dir = body.direction;
  if (!isObj(dir) && !Array.isArray(dir)) return 'the direction state is missing';
  const direction = dir as Obj;
  // the Adam moments' count: AdamW's moments, EmoSens's direction, EmoAiry's dense part
  let adamCount: Tensor | undefined;
  if (key !== 'emoCats') {
    const moments = key === 'emoAiry' ? direction.dense : direction;
    const path = key === 'adamw' ? 'state.moments' : key === 'emoAiry' ? 'the dense direction state' : 'the direction state';
    if (!isObj(moments) || !floatTensor(moments.count, [])) return `${path}'s count must be a float32 scalar`;
    adamCount = moments.count;
  }

  const slots: ParamSlots[] = [];
  for (const [name, grad] of Object.entries(grads)) {
    const param = params[name];
    if (param === undefined || typeof (param as Partial<Variable>).assign !== 'function' || param.dtype !== 'float32') {
      return `parameter '${name}' must be a float32 variable`;
    }
    if (!floatTensor(grad, param.shape)) return `gradient '${name}' must be float32 of the parameter's shape`;
    let slot: Omit<ParamSlots, 'shadow'>;
    if (key === 'emoSens' || key === 'adamw' || (key === 'emoAiry' && param.rank < 2)) {
      const moments = key === 'emoAiry' ? direction.dense : direction;
      if (!isObj(moments) || !isObj(moments.mu) || !isObj(moments.nu)) return 'the Adam moments (mu, nu) are missing';
      const mu = moments.mu[name];
      const nu = moments.nu[name];
      if (!floatTensor(mu, param.shape) || !floatTensor(nu, param.shape)) return `moments of '${name}' are missing or misshapen`;
      const filter: Filter = key === 'adamw' ? 'none' : key === 'emoAiry' ? 'square' : 'abs';
      slot = { name, param, grad, direction: 'adam', filter, state: [mu, nu] };
    } else if (key === 'emoAiry') {
      const s = isObj(direction.factored) ? direction.factored[name] : undefined;
      if (!isObj(s) || !floatTensor(s.row, [param.shape[0]!]) || !floatTensor(s.col, param.shape.slice(1))) {
        return `factored moments of '${name}' are missing or misshapen`;
      }
      slot = { name, param, grad, direction: 'factored', filter: 'factored', state: [s.row, s.col] };
    } else {
      const moments = direction[0];
      const m = isObj(moments) ? moments[name] : undefined;
      if (!floatTensor(m, param.shape)) return `Lion moment of '${name}' is missing or misshapen`;
      slot = { name, param, grad, direction: 'lion', filter: 'abs', state: [m] };
    }
    if (shadow) {
      const s = shadows![name];
      if (!isObj(s) || !floatTensor(s.value, param.shape) || !scalarLike(s.taken, 'float32')) return `the shadow of '${name}' is missing or misshapen`;
      slots.push({ ...slot, shadow: { value: s.value, taken: s.taken } });
    } else {
      slots.push(slot);
    }
  }
  return { key, ...(emotion ? { emotion } : {}), params: slots, ...(adamCount !== undefined ? { adamCount } : {}), lr, b1, b2, eps, weightDecay };
}

/**
 * The next state: the same layout, each tensor replaced by its successor if it has one
 * (the step counts included: they are tensors). Other leaves are kept as they are.
 */
export function nextState(state: StateValue, replaced: ReadonlyMap<Tensor, Tensor>): StateValue {
  const visit = (value: unknown): unknown => {
    if (isTensor(value)) return replaced.get(value) ?? value;
    if (Array.isArray(value)) return value.map(visit);
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, visit(v)]));
    }
    return value;
  };
  return visit(state) as StateValue;
}
