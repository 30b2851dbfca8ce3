import * as tf from '@tensorflow/tfjs-core';
import {
  allFinite,
  check,
  composedUpdate,
  fx,
  isFusionForm,
  isLeafRef,
  isSym,
  isTensor,
  selectWhere,
  type FusionForm,
  type GradientTransformation,
  type LeafRef,
  type Params,
  type StateValue,
  type StepContext,
  type Sym,
  type SymTree,
  type Updates,
} from '@emosens/core';

/** Options of {@link applyIfFinite}. */
export interface ApplyIfFiniteOptions {
  /**
   * How many non-finite steps in a row are skipped; the next one is applied anyway (an
   * integer >= 0). Required, as in optax.
   */
  readonly maxConsecutiveErrors: number;
}

/** State of {@link applyIfFinite}. */
export type ApplyIfFiniteState<S extends StateValue> = {
  /** Non-finite steps in a row so far (float32 scalar, on the device; 0 after a finite step). */
  readonly notFiniteCount: tf.Scalar;
  /** 1 if the last step was finite, else 0 (float32 scalar). */
  readonly lastFinite: tf.Scalar;
  /** Non-finite steps in all (float32 scalar). */
  readonly totalNotFinite: tf.Scalar;
  /** The inner block's state, kept as it was on a skipped step. */
  readonly inner: S;
};

/**
 * Skips the steps whose updates are not finite (optax's `apply_if_finite`): when an incoming
 * update or one `inner` returns holds NaN or ±Infinity, the updates are zeros and the inner
 * block's tensor state keeps its old values; after more than `maxConsecutiveErrors`
 * non-finite steps in a row, the step is applied anyway (so training does not stall silently):
 *
 * ```
 * u', inner' = inner(u)
 * finite     = all(isFinite(u)) and all(isFinite(u'))
 * count      = finite ? 0 : count + 1
 * apply      = finite or count > maxConsecutiveErrors
 * u          = apply ? u' : 0;     inner <- apply ? inner' : inner     (selected on the device)
 * ```
 *
 * Nothing is read back: the test and the counters are device values and every tensor of the
 * inner state is selected (`where`) on the device. Host numbers in the inner state (a
 * schedule's count, a cycle position) still advance on a skipped step. optax tests only the
 * incoming updates; the inner block's output is tested too, so an overflow inside it is
 * caught as well. The step engine's non-finite `'skip'` policy (a guard over the loss and the
 * gradients of the whole step) is the other way to get this; this block is the one to use
 * inside a chain, with a limit and its counters in the state.
 *
 * ```ts
 * import { chain } from '@emosens/core';
 * import { scaleByAdam } from '@emosens/moments';
 * import { applyIfFinite, scaleByLearningRate } from '@emosens/modifiers';
 * const tx = applyIfFinite(chain(scaleByAdam(), scaleByLearningRate(1e-3)), { maxConsecutiveErrors: 5 });
 * ```
 */
export function applyIfFinite<S extends StateValue>(inner: GradientTransformation<S>, options: ApplyIfFiniteOptions): GradientTransformation<ApplyIfFiniteState<S>> {
  const name = `applyIfFinite(${inner.name})`;
  const maxErrors = check.integer('applyIfFinite', 'maxConsecutiveErrors', (options as Partial<ApplyIfFiniteOptions> | undefined)?.maxConsecutiveErrors, 0);
  const init = (params: Params): ApplyIfFiniteState<S> => ({
    notFiniteCount: tf.scalar(0),
    lastFinite: tf.scalar(1),
    totalNotFinite: tf.scalar(0),
    inner: inner.init(params),
  });
  if (!isFusionForm(inner.fusion)) {
    // an inner block without a fused form: the same rule with tf ops (the step engine's guard math)
    return { name, init, update: tensorUpdate(inner, maxErrors), fusion: { blocked: `block '${inner.name}' has no fused form` } };
  }
  const innerF = inner.fusion;
  const fusion: FusionForm = {
    update(updates, state, params, context) {
      const s = state as { notFiniteCount: LeafRef; lastFinite: LeafRef; totalNotFinite: LeafRef; inner: SymTree };
      const r = innerF.update(updates, s.inner, params, context);
      const finite = allFiniteSym([...Object.values(updates), ...Object.values(r.updates)]);
      const count = fx.select(finite, 0, fx.add(fx.step(s.notFiniteCount), 1));
      const apply = fx.or(finite, fx.gt(count, maxErrors));
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(r.updates)) out[key] = fx.select(apply, u, 0);
      return {
        updates: out,
        state: {
          notFiniteCount: count,
          lastFinite: finite,
          totalNotFinite: fx.add(fx.step(s.totalNotFinite), fx.not(finite)),
          inner: keepUnless(apply, r.state, s.inner),
        },
      };
    },
  };
  return { name, init, update: composedUpdate(name, fusion), fusion };
}

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * 1 when every value is finite, else 0 (a step value). The test is a comparison,
 * `|x| <= FLOAT32_MAX` (false for NaN and ±Infinity), and the non-finite entries are counted:
 * arithmetic that relies on NaN propagating (`x - x`) is not safe, as a target may fold it
 * (the tf-ops target's linear forms cancel `x - x` to 0; WGSL lets a compiler assume no NaN).
 */
function allFiniteSym(values: readonly Sym[]): Sym {
  const perParam: Sym[] = [];
  let perStep: Sym | number = 0;
  for (const x of values) {
    const bad = fx.not(fx.le(fx.abs(x), FLOAT32_MAX));
    if (bad.domain === 'elem' || bad.domain === 'row' || bad.domain === 'col') perParam.push(fx.sum(bad));
    else if (bad.domain === 'param') perParam.push(bad);
    else perStep = fx.add(perStep, bad.domain === 'window' ? fx.sum(bad) : bad);
  }
  return fx.eq(fx.add(fx.sumParams(perParam), perStep), 0);
}

/** The inner state with each tensor it changed selected on `apply`: the new value, or the old one. */
function keepUnless(apply: Sym, neu: SymTree, old: SymTree): SymTree {
  if (isSym(neu)) return isLeafRef(old) ? fx.select(apply, neu, fx.leaf(old, neu)) : neu;
  if (isLeafRef(neu)) return neu;
  if (Array.isArray(neu)) return neu.map((x, i) => keepUnless(apply, x as SymTree, (old as readonly SymTree[])[i]!));
  if (typeof neu === 'object' && neu !== null) {
    const out: Record<string, SymTree> = {};
    for (const [k, x] of Object.entries(neu)) out[k] = keepUnless(apply, x as SymTree, (old as Readonly<Record<string, SymTree>>)[k]!);
    return out;
  }
  return neu; // host values advance
}

/** The composed update around an inner block without a fused form, with the finite guard's tf math. */
function tensorUpdate<S extends StateValue>(inner: GradientTransformation<S>, maxErrors: number) {
  return (updates: Updates, state: ApplyIfFiniteState<S>, params: Params, context: StepContext) => {
    const r = inner.update(updates, state.inner, params, context);
    const tested: Record<string, tf.Tensor> = {};
    for (const [key, u] of Object.entries(updates)) tested[`in/${key}`] = u;
    for (const [key, u] of Object.entries(r.updates)) tested[`out/${key}`] = u;
    const finite = allFinite(undefined, tested);
    const count = tf.where(finite, tf.scalar(0), tf.add(state.notFiniteCount, 1)) as tf.Scalar;
    const apply = tf.logicalOr(finite, tf.greater(count, maxErrors)) as tf.Scalar;
    const conditions = new Map<string, tf.Tensor>();
    const out: Record<string, tf.Tensor> = {};
    for (const [key, u] of Object.entries(r.updates)) out[key] = selectWhere(apply, u, tf.zerosLike(u), conditions);
    const keep = (neu: StateValue, old: StateValue): StateValue => {
      if (isTensor(neu)) return isTensor(old) && neu !== old ? selectWhere(apply, neu, old, conditions) : neu;
      if (Array.isArray(neu)) return neu.map((x, i) => keep(x as StateValue, (old as readonly StateValue[])[i]!));
      if (typeof neu === 'object' && neu !== null) {
        return Object.fromEntries(Object.entries(neu).map(([k, x]) => [k, keep(x, (old as Readonly<Record<string, StateValue>>)[k]!)]));
      }
      return neu;
    };
    const fin = tf.cast(finite, 'float32') as tf.Scalar;
    return {
      updates: out,
      state: {
        notFiniteCount: count,
        lastFinite: fin,
        totalNotFinite: tf.add(state.totalNotFinite, tf.sub(1, fin)) as tf.Scalar,
        inner: keep(r.state, state.inner) as S,
      },
    };
  };
}
