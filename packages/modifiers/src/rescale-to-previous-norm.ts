import * as tf from '@tensorflow/tfjs-core';
import {
  check,
  combineFusion,
  composedUpdate,
  fx,
  innerForm,
  type FusionForm,
  type GradientTransformation,
  type LeafRef,
  type StateValue,
  type Sym,
  type SymMap,
  type SymTree,
} from '@emosens/core';

/** Options of {@link rescaleToPreviousNorm} and {@link withPreviousNormRescale}. */
export interface PreviousNormOptions {
  /** The last step count (from 0) that is still rescaled: the warm-up's length. Default 55. */
  readonly steps?: number;
  /**
   * When the host value `shouldStop` (published by `emoPulse()`) turns from 0 to 1, set the
   * step count to `steps`, so that the next step is rescaled once more (as the reference
   * does). Default true; false reads no host value.
   */
  readonly restartOnStop?: boolean;
}

/** State of {@link rescaleToPreviousNorm}. */
export type PreviousNormState = {
  /** The sum of the parameters' L1 norms after the last step's rescale (the reference's `prev_gl1`): float32 scalar, on the device. */
  readonly prev: tf.Scalar;
  /** The step count `n` (the reference's `_step_count`), 0 before the first step: float32 scalar. */
  readonly count: tf.Scalar;
  /** Last step's `shouldStop` (0 or 1): float32 scalar. */
  readonly stopped: tf.Scalar;
};

/** State of {@link withPreviousNormRescale}: the inner state and {@link PreviousNormState}'s fields. */
export type PreviousNormWrapperState<S extends StateValue> = PreviousNormState & { readonly inner: S };

type Built = { readonly name: string; readonly steps: number; readonly restartOnStop: boolean };

function readOptions(block: string, options: PreviousNormOptions): Omit<Built, 'name'> {
  return {
    steps: check.integer(block, 'steps', options.steps ?? 55, 0),
    restartOnStop: check.boolean(block, 'restartOnStop', options.restartOnStop ?? true),
  };
}

/**
 * The rescale around `run` (the inner block on the rescaled parameters, or the incoming
 * updates as they are): the math, once, for both factories.
 */
function rescaleForm(
  { name, steps, restartOnStop }: Built,
  run: (updates: SymMap, state: SymTree, params: SymMap, context: Parameters<FusionForm['update']>[3]) => { updates: SymMap; state: SymTree },
): FusionForm {
  return {
    update(updates, state, params, context) {
      const s = state as { prev: LeafRef; count: LeafRef; stopped: LeafRef; inner?: SymTree };
      const count = fx.step(s.count);
      // A previous L exists from the second step on (count >= 1); 0/1 flags multiply as "and".
      const active = fx.mul(fx.ge(count, 1), fx.le(count, steps));
      const keys = Object.keys(updates);
      const norm = fx.sumParams(keys.map((k) => fx.sum(fx.abs(params[k]!))));
      const factor = fx.select(active, fx.div(fx.step(s.prev), fx.add(norm, 1e-8)), 1);
      const scaled: Record<string, Sym> = { ...params };
      for (const k of keys) scaled[k] = fx.mul(params[k]!, factor);
      const r = run(updates, s.inner ?? {}, scaled, context);
      const out: Record<string, Sym> = {};
      for (const [k, u] of Object.entries(r.updates)) out[k] = fx.add(fx.sub(scaled[k]!, params[k]!), u);
      const next: Record<string, SymTree> = { prev: fx.mul(norm, factor), count: fx.add(count, 1), stopped: s.stopped };
      if (restartOnStop) {
        // The host value enters the program as a uniform, so a traced step never bakes in one step's value.
        const stop = fx.uniform(context.readValue('shouldStop', name) === 1 ? 1 : 0);
        const stopped = fx.step(s.stopped);
        next.count = fx.select(fx.mul(stop, fx.sub(1, stopped)), steps, fx.add(count, 1));
        next.stopped = fx.max(fx.mul(stopped, 0), stop);
      }
      if (s.inner !== undefined) next.inner = r.state;
      return { updates: out, state: next };
    },
  };
}

const initState = (): PreviousNormState => ({ prev: tf.scalar(0), count: tf.scalar(0), stopped: tf.scalar(0) });

/**
 * EmoVoid's weight-reference rescale (muooon/EmoSens v3.9.1, `optimizer/emovoid.py`), placed
 * at the end of a chain (after the learning rate). Once per step, with `L` the sum of the
 * parameters' L1 norms and `n` the step count (from 0; its value before this step is compared):
 *
 * ```
 * factor = (n >= 1 and n <= steps) ? prev / (L + 1e-8) : 1     (n >= 1: a previous L exists)
 * p + u  = p * factor + u_in          (u = u_in + (p * factor - p))
 * prev   = L * factor
 * n      = shouldStop turned from 0 to 1 this step ? steps : n + 1
 * ```
 *
 * so the step is taken from the rescaled weights (`p * factor - pulse * sign(g)`), as in the
 * reference. The incoming updates must not depend on the parameters (EmoVoid's `sign(g)`
 * does not); where they do (e.g. the v3 shadow acts on the rescaled weights), wrap the
 * inner block with {@link withPreviousNormRescale} instead. The state stays on the device
 * (float32 scalars: `prev`, `n` and last step's `shouldStop`; the reference reads the
 * factor back with `.item()`), so nothing is read back and a step skipped for non-finite
 * values (`skipNonFinite`) leaves it exactly as it was; this step's `shouldStop` enters
 * the program as a uniform.
 *
 * ```ts
 * chain(trackEmotionV3(), emoPulse(), scaleBySign(), scaleByLearningRate(...), rescaleToPreviousNorm({ steps: 55 }))
 * ```
 */
export function rescaleToPreviousNorm(options: PreviousNormOptions = {}): GradientTransformation<PreviousNormState> {
  const name = 'rescaleToPreviousNorm';
  const built = { name, ...readOptions(name, options) };
  const fusion = rescaleForm(built, (updates, state) => ({ updates, state }));
  return { name, init: initState, update: composedUpdate(name, fusion), fusion };
}

/**
 * {@link rescaleToPreviousNorm} around `inner`: the parameters are rescaled first and
 * `inner` runs on the rescaled ones (so a block that reads them, such as
 * `withShadow(..., { rule: 'v3' })`, sees `p * factor`, as in the reference); the update is
 * `(p * factor - p) + inner_update`.
 *
 * ```ts
 * chain(trackEmotionV3(), emoPulse(), withPreviousNormRescale(withShadow(chain(scaleBySign(), scaleByLearningRate(...)), { rule: 'v3' })))
 * ```
 */
export function withPreviousNormRescale<S extends StateValue>(
  inner: GradientTransformation<S>,
  options: PreviousNormOptions = {},
): GradientTransformation<PreviousNormWrapperState<S>> {
  const name = `withPreviousNormRescale(${inner.name})`;
  const built = { name, ...readOptions('withPreviousNormRescale', options) };
  const form = (innerF: FusionForm) => rescaleForm(built, (u, s, p, c) => innerF.update(u, s, p, c));
  return {
    name,
    init: (params) => ({ ...initState(), inner: inner.init(params) }),
    update: composedUpdate(name, form(innerForm(inner))),
    fusion: combineFusion([inner], ([f]) => form(f!)),
  };
}
