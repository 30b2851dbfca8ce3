import { flattenState, isTensor, validateLoss, type FusedStepArgs, type StateValue } from '@emosens/core';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';

/**
 * The fused keys the reference optimizers declare in `transform.fused.key`, one per
 * optimizer (`adam` is `'adamw'` with a weight decay of 0). A backend registers one kernel
 * per key with `registerFusedKernel(key, backendName, kernel)`.
 */
export const FUSED_KEYS = ['emoSens', 'emoAiry', 'emoCats', 'adamw'] as const;

/** One of {@link FUSED_KEYS}. */
export type FusedKey = (typeof FUSED_KEYS)[number];

/** Where a parameter's update direction comes from. */
export type FusedDirection =
  /** Adam moments `mu`, `nu` (EmoSens, AdamW, EmoAiry's vectors and scalars). */
  | 'adam'
  /** Lion's signed interpolated moment (EmoCats). */
  | 'lion'
  /** EmoAiry's row/column second moments (parameters of rank >= 2). */
  | 'factored';

/** Which root filter (`rootFiltered` of `@emosens/moments`) masks a parameter's update. */
export type FusedFilter =
  /** No filter (AdamW). */
  | 'none'
  /** `|g|^(1/3) >= 1e-4 (1 + |s|)` (EmoSens, EmoCats). */
  | 'absAtLeast'
  /** `(g^2)^(1/3) > 1e-4 (1 + |s|)` (EmoAiry's vectors). */
  | 'squareAbove'
  /** Row and column masks from the factored statistics (EmoAiry's matrices). */
  | 'factored';

/** The emotion state of the Emo optimizers (`state.emotion`, see `trackEmotion`). */
export interface FusedEmotionSlots {
  /** Steps seen, a float32 scalar (shape `[]`). */
  readonly count: Tensor;
  /** The short and long moving averages of the loss, float32 scalars. */
  readonly short: Tensor;
  readonly long: Tensor;
  /** The emotion scalar of the last step, float32. */
  readonly scalar: Tensor;
  /** The last `window` emotion scalars, a float32 vector. */
  readonly history: Tensor;
  /** The calm (should-stop) signal of the last step, a bool scalar. */
  readonly calm: Tensor;
}

/** One parameter with its gradient and the state tensors a fused step reads and writes. */
export interface FusedParamSlots {
  readonly name: string;
  readonly param: Variable;
  readonly grad: Tensor;
  readonly direction: FusedDirection;
  readonly filter: FusedFilter;
  /** `[mu, nu]` (adam), `[moment]` (lion) or `[row, col]` (factored), each float32. */
  readonly state: readonly Tensor[];
  /** With `useShadow`: the shadow copy (the parameter's shape) and its 0/1 `taken` flag. */
  readonly shadow?: { readonly value: Tensor; readonly taken: Tensor };
}

/** Everything one fused step of a reference optimizer needs, found by {@link planFusedStep}. */
export interface FusedStepPlan {
  readonly key: FusedKey;
  /** The emotion state (the Emo optimizers only). */
  readonly emotion?: FusedEmotionSlots;
  /** The parameters that have gradients, in the gradients' order. */
  readonly params: readonly FusedParamSlots[];
  /** The shadow system is on (every parameter then has `shadow`). */
  readonly shadow: boolean;
  /**
   * The Adam moments' step count, a float32 scalar: AdamW's bias corrections use
   * `t = count + 1`; the Emo optimizers' Adam moments only advance it. Absent for EmoCats.
   */
  readonly adamCount?: Tensor;
  /** Bias-correct the Adam moments from `adamCount` (AdamW only). */
  readonly biasCorrection: boolean;
  readonly lr: number;
  readonly b1: number;
  readonly b2: number;
  readonly eps: number;
  /** As the composed chain applies it (EmoCats's is already divided by lr when decoupled). */
  readonly weightDecay: number;
}

/** A plan, or the reason a fused kernel should decline (the step then runs composed). */
export type FusedPlanResult = { readonly plan: FusedStepPlan } | { readonly decline: string };

type Obj = Readonly<Record<string, unknown>>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !isTensor(v);
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** A live float32 tensor of exactly `shape`. */
function floatTensor(v: unknown, shape: readonly number[]): v is Tensor {
  return isTensor(v) && v.dtype === 'float32' && !v.isDisposed && sameShape(v.shape, shape);
}

/** A live tensor of `dtype` with one element (any rank). */
function scalarLike(v: unknown, dtype: 'float32' | 'bool'): v is Tensor {
  return isTensor(v) && v.dtype === dtype && !v.isDisposed && v.size === 1;
}

function isVariable(t: Tensor): t is Variable {
  return typeof (t as Partial<Variable>).assign === 'function';
}

function finiteOption(options: FusedStepArgs<StateValue>['options'], name: string): number | undefined {
  const v = options[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function readEmotion(v: unknown): FusedEmotionSlots | string {
  if (!isObj(v)) return 'state.emotion is missing';
  const { count, short, long, scalar, history, calm } = v;
  if (!floatTensor(count, [])) return 'state.emotion.count must be a float32 scalar';
  if (!scalarLike(short, 'float32') || !scalarLike(long, 'float32') || !scalarLike(scalar, 'float32')) {
    return 'state.emotion.short/long/scalar must be float32 scalars';
  }
  if (!isTensor(history) || history.dtype !== 'float32' || history.rank !== 1 || history.size < 1 || history.isDisposed) {
    return 'state.emotion.history must be a float32 vector';
  }
  if (!scalarLike(calm, 'bool')) return 'state.emotion.calm must be a bool scalar';
  return { count, short, long, scalar, history, calm };
}

/**
 * Reads a step of the reference optimizer `key` into a {@link FusedStepPlan}: the
 * hyperparameters from `args.options`, and every tensor the step reads and writes, after
 * checking that `args.state` has exactly the layout the composed optimizer's `init` gives
 * it (`flattenState(emoSens().init(params))`), that every state leaf is a tensor (a fused
 * step advances tensors only, the step counts included), that each parameter with a
 * gradient is a float32 variable with a gradient of its shape, and that the Emo
 * optimizers get a valid loss. When something does not hold it returns `{ decline }`
 * with the reason, and the kernel should decline so that the composed path runs and raises
 * its usual error (e.g. `MISSING_LOSS`).
 *
 * Backend-neutral: checks that only one backend needs (storage aliasing, buffer sizes)
 * stay in that backend.
 *
 * Layouts (`<p>` a parameter name; `[shadow]` with `useShadow`, where the chain moves
 * under `step/inner/` and `step/shadow/<p>/{value, taken}` appears):
 *
 * ```
 * emoSens  emotion/{count, short, long, scalar, history, calm}  step/direction/{count, mu/<p>, nu/<p>}
 * emoAiry  emotion/...  step/direction/dense/{count, mu/<p>, nu/<p>}  (rank < 2)
 *                       step/direction/factored/<p>/{row [d0], col [d1..dn]}  (rank >= 2)
 * emoCats  emotion/...  step/direction/0/<p>  (the Lion moment)
 * adamw    moments/{count, mu/<p>, nu/<p>}
 * ```
 *
 * ```ts
 * registerFusedKernel('emoSens', 'myBackend', {
 *   name: 'emoSens/myBackend',
 *   supports: (args) => 'plan' in planFusedStep('emoSens', args),
 *   step(args) { const r = planFusedStep('emoSens', args); ... },
 * });
 * ```
 */
export function planFusedStep(key: FusedKey, args: FusedStepArgs<StateValue>): FusedPlanResult {
  const found = findPlan(key, args);
  return typeof found === 'string' ? { decline: found } : { plan: found };
}

function findPlan(key: FusedKey, args: FusedStepArgs<StateValue>): FusedStepPlan | string {
  if (!(FUSED_KEYS as readonly string[]).includes(key)) return `unknown fused key '${String(key)}'`;
  const { params, grads, state, options } = args;
  const lr = finiteOption(options, 'lr');
  const b1 = finiteOption(options, 'b1');
  const b2 = finiteOption(options, 'b2');
  const eps = finiteOption(options, 'eps');
  const weightDecay = finiteOption(options, 'weightDecay');
  if (lr === undefined || b1 === undefined || b2 === undefined || eps === undefined || weightDecay === undefined) {
    return 'options lr, b1, b2, eps and weightDecay must be finite numbers';
  }
  const shadow = key !== 'adamw' && options.useShadow === true;
  if (!isObj(state)) return 'state is not an object';
  // Every leaf is a tensor (the step counts included): a leaf kept on the host (e.g. a
  // learning-rate schedule's count) is something the fused step would not advance.
  let onHost: { path: string } | undefined;
  try {
    onHost = flattenState(state).find((leaf) => !isTensor(leaf.value));
  } catch (e) {
    return (e as Error).message;
  }
  if (onHost) return `state leaf '${onHost.path}' is not a tensor (the fused kernel advances only tensor state)`;

  let emotion: FusedEmotionSlots | undefined;
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
  // The Adam moments (with their count): AdamW's, EmoSens's direction, EmoAiry's dense part.
  const moments = key === 'emoAiry' ? dir.dense : key === 'emoCats' ? undefined : dir;
  let adamCount: Tensor | undefined;
  if (key !== 'emoCats') {
    const count = isObj(moments) ? moments.count : undefined;
    if (!floatTensor(count, [])) {
      const where = key === 'adamw' ? 'state.moments' : key === 'emoAiry' ? 'the dense direction state' : 'the direction state';
      return `${where}'s count must be a float32 scalar`;
    }
    adamCount = count;
  }

  const slots: FusedParamSlots[] = [];
  for (const [name, grad] of Object.entries(grads)) {
    const param = params[name];
    if (param === undefined || !isVariable(param) || param.dtype !== 'float32') return `parameter '${name}' must be a float32 variable`;
    if (!floatTensor(grad, param.shape)) return `gradient '${name}' must be float32 of the parameter's shape`;
    let slot: Omit<FusedParamSlots, 'shadow'>;
    if (key === 'emoSens' || key === 'adamw' || (key === 'emoAiry' && param.rank < 2)) {
      if (!isObj(moments) || !isObj(moments.mu) || !isObj(moments.nu)) return 'the Adam moments (mu, nu) are missing';
      const mu = moments.mu[name];
      const nu = moments.nu[name];
      if (!floatTensor(mu, param.shape) || !floatTensor(nu, param.shape)) return `moments of '${name}' are missing or misshapen`;
      const filter: FusedFilter = key === 'adamw' ? 'none' : key === 'emoAiry' ? 'squareAbove' : 'absAtLeast';
      slot = { name, param, grad, direction: 'adam', filter, state: [mu, nu] };
    } else if (key === 'emoAiry') {
      const s = isObj(dir.factored) ? dir.factored[name] : undefined;
      if (!isObj(s)) return `factored moments of '${name}' are missing`;
      if (!floatTensor(s.row, [param.shape[0]!]) || !floatTensor(s.col, param.shape.slice(1))) {
        return `factored moments of '${name}' are misshapen`;
      }
      slot = { name, param, grad, direction: 'factored', filter: 'factored', state: [s.row, s.col] };
    } else {
      const lion = dir[0];
      const m = isObj(lion) ? lion[name] : undefined;
      if (!floatTensor(m, param.shape)) return `Lion moment of '${name}' is missing or misshapen`;
      slot = { name, param, grad, direction: 'lion', filter: 'absAtLeast', state: [m] };
    }
    if (shadows) {
      const s = shadows[name];
      if (!isObj(s) || !floatTensor(s.value, param.shape) || !scalarLike(s.taken, 'float32')) {
        return `the shadow of '${name}' is missing or misshapen`;
      }
      slots.push({ ...slot, shadow: { value: s.value, taken: s.taken } });
    } else {
      slots.push(slot);
    }
  }
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
 * The state after a fused step: the same layout (so checkpoints move between the fused
 * and composed paths), each tensor replaced by its successor in `replaced` where it has
 * one, and kept otherwise (written in place). Builds new containers; `state` is not changed.
 */
export function replaceStateTensors(state: StateValue, replaced: ReadonlyMap<Tensor, Tensor>): StateValue {
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
