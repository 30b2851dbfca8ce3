import * as tf from '@tensorflow/tfjs-core';
import {
  check,
  EmosensError,
  combineFusion,
  composedUpdate,
  fx,
  innerForm,
  type FusionForm,
  initPerParameter,
  type LeafRef,
  type Sym,
  type SymTree,
  type GradientTransformation,
  type PerParameter,
  type StateValue,
} from '@emosens/core';
import type {} from '@emosens/emotion'; // declares the `emotion` signal read below

/** Options of {@link withShadow}. */
export interface ShadowOptions {
  /**
   * Which generation's rule: `'v2'` (default; the `emotion` signal, a tensor) or `'v3'`
   * (v3.9.1: the host values `emotion` and `trust`, see {@link withShadow}).
   */
  readonly rule?: 'v2' | 'v3';
  /** v2 only: how far the shadow moves toward the blended weights each active step. Default 0.05. */
  readonly follow?: number;
}

/** The v3 rule's threshold: the shadow blends in while `|s| > 0.625`. */
const V3_THRESHOLD = 0.625;
/** The v3 rule's follow rate per unit of `|trust|` while the shadow does not blend in. */
const V3_FOLLOW = 0.1;

/** Per-parameter shadow: the slow copy and whether it has been taken yet. */
export type ShadowSlot = {
  /** The slow copy of the parameter (`shadow`), its shape; zeros until taken. */
  readonly value: tf.Tensor;
  /** 1 once the copy has been taken, else 0 (float32 scalar, so no readback is needed). */
  readonly taken: tf.Scalar;
};

/** State of {@link withShadow}: the inner state and the shadow of each parameter. */
export type ShadowState<S extends StateValue> = {
  readonly inner: S;
  readonly shadow: PerParameter<ShadowSlot>;
};

/** {@link shadowRatio} over a symbolic emotion scalar (the fused form). */
function shadowRatioSym(emotion: Sym): Sym {
  const a = fx.abs(emotion);
  const high = fx.add(fx.mul(fx.div(fx.sub(a, 0.6), 0.4), 0.4), 0.6);
  const mid = fx.add(fx.mul(fx.div(fx.sub(a, 0.1), 0.5), 0.5), 0.1);
  return fx.select(fx.gt(a, 0.6), high, fx.select(fx.gt(a, 0.1), mid, 0));
}

/**
 * The shadow system (off by default in the Emo optimizers): when the loss jumps, pull
 * the weights toward a slow-moving copy before the inner transform runs. With
 * `ratio = shadowRatio(s)` from the `emotion` signal, on each step where `ratio > 0`:
 *
 * ```
 * first time:  shadow = p                                  (no blend)
 * afterwards:  p' = (1 - ratio) * p + ratio * shadow
 *              shadow = shadow + 0.05 * (p' - shadow)
 * ```
 *
 * `inner` then runs with the blended parameters `p'` (so decoupled weight decay acts on
 * them), and the returned update is `(p' - p) + inner_update`. Every branch is tensor
 * arithmetic: nothing is read back to the CPU.
 *
 * ```ts
 * chain(trackEmotion(), withShadow(chain(scaleByAdam(), scaleByLearningRate(1e-3))))
 * ```
 *
 * With `rule: 'v3'` (EmoSens v3.9.1), every step, from the host values `emotion` (s) and
 * `trust` (`copysign(1 - |s|, s)`) that `trackEmotionV3()` publishes, per parameter:
 *
 * ```
 * first time:        shadow = p                            (a copy; the step goes on)
 * ratio = |s| > 0.625 ? 1 - |s| : 0
 * ratio > 0:         p' = (1 - ratio) * p + |trust| * shadow   (shadow unchanged)
 * otherwise:         p' = p,  shadow = shadow + 0.1 * |trust| * (p - shadow)   (torch lerp_)
 * ```
 *
 * The branch is taken on the host (the values are JS numbers, so nothing is read back);
 * the state layout is v2's (`shadow/<param>/value`, `shadow/<param>/taken`).
 */
export function withShadow<S extends StateValue>(
  inner: GradientTransformation<S>,
  options: ShadowOptions = {},
): GradientTransformation<ShadowState<S>> {
  const name = `withShadow(${inner.name})`;
  const rule = options.rule ?? 'v2';
  if (rule !== 'v2' && rule !== 'v3') {
    throw new EmosensError('INVALID_OPTION', `withShadow: option 'rule' must be 'v2' or 'v3', got ${String(rule)}.`);
  }
  if (rule === 'v3' && options.follow !== undefined) {
    throw new EmosensError('INVALID_OPTION', `withShadow: option 'follow' is v2's; the v3 rule follows by 0.1 * |trust|, so leave 'follow' out with rule 'v3'.`);
  }
  const follow = check.number('withShadow', 'follow', options.follow ?? 0.05, { min: 0, max: 1 });

  // The math, once, around the inner block's form (its fused form, or its tensors when it has none).
  const formV2 = (innerF: FusionForm): FusionForm => ({
    update(updates, state, params, context) {
      const s = state as { inner: SymTree; shadow: Record<string, { value: LeafRef; taken: LeafRef } | { value: Sym; taken: Sym }> };
      const ratio = shadowRatioSym(context.read('emotion', name));
      const active = fx.gt(ratio, 0);
      const blendedParams: Record<string, Sym> = { ...params };
      const shadow = { ...s.shadow };
      for (const key of Object.keys(updates)) {
        const p = params[key]!;
        const slot = s.shadow[key] as { value: LeafRef; taken: LeafRef };
        const value = fx.elem(slot.value, key);
        const taken = fx.paramScalar(slot.taken, key);
        const blendWeight = fx.mul(fx.mul(active, taken), ratio);
        const blended = fx.add(fx.mul(p, fx.sub(1, blendWeight)), fx.mul(value, blendWeight));
        const followed = fx.add(value, fx.mul(fx.sub(blended, value), follow));
        const takeNow = fx.mul(active, fx.sub(1, taken));
        const keepOld = fx.sub(1, active);
        const followNow = fx.mul(active, taken);
        blendedParams[key] = blended;
        shadow[key] = {
          value: fx.add(fx.add(fx.mul(p, takeNow), fx.mul(value, keepOld)), fx.mul(followed, followNow)),
          taken: fx.max(taken, active),
        };
      }
      const r = innerF.update(updates, s.inner, blendedParams, context);
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(r.updates)) out[key] = fx.add(fx.sub(blendedParams[key]!, params[key]!), u);
      return { updates: out, state: { inner: r.state, shadow } };
    },
  });
  // The v3.9.1 rule: the branch is taken on the host, from the host values `emotion` and `trust`.
  const formV3 = (innerF: FusionForm): FusionForm => ({
    update(updates, state, params, context) {
      const s = state as { inner: SymTree; shadow: Record<string, { value: LeafRef; taken: LeafRef }> };
      const emotion = context.readValue('emotion', name);
      const trust = Math.abs(context.readValue('trust', name));
      const ratio = Math.abs(emotion) > V3_THRESHOLD ? 1 - Math.abs(emotion) : 0;
      const blendedParams: Record<string, Sym> = { ...params };
      const shadow: Record<string, SymTree> = { ...s.shadow };
      // Host numbers enter the program as uniforms, so a traced step never bakes in one step's branch.
      const keep = fx.uniform(1 - ratio);
      const pull = fx.uniform(ratio > 0 ? trust : V3_FOLLOW * trust);
      for (const key of Object.keys(updates)) {
        const p = params[key]!;
        const slot = s.shadow[key]!;
        const taken = fx.paramScalar(slot.taken, key);
        // The first time, the copy: shadow = p (the step goes on with it).
        const value = fx.select(taken, fx.elem(slot.value, key), p);
        if (ratio > 0) {
          // p = (1 - ratio) p + |trust| shadow; the shadow stays.
          blendedParams[key] = fx.add(fx.mul(p, keep), fx.mul(value, pull));
          shadow[key] = { value, taken: fx.max(taken, 1) };
        } else {
          // shadow.lerp_(p, 0.1 |trust|): shadow + w (p - shadow), w <= 0.1.
          shadow[key] = { value: fx.add(value, fx.mul(fx.sub(p, value), pull)), taken: fx.max(taken, 1) };
        }
      }
      const r = innerF.update(updates, s.inner, blendedParams, context);
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(r.updates)) {
        out[key] = blendedParams[key] === params[key] ? u : fx.add(fx.sub(blendedParams[key]!, params[key]!), u);
      }
      return { updates: out, state: { inner: r.state, shadow } };
    },
  });
  const form = (innerF: FusionForm): FusionForm => (rule === 'v3' ? formV3(innerF) : formV2(innerF));
  return {
    name,
    init: (params) => ({
      inner: inner.init(params),
      shadow: initPerParameter(params, (p) => ({ value: tf.zerosLike(p), taken: tf.scalar(0) })),
    }),
    update: composedUpdate(name, form(innerForm(inner))),
    fusion: combineFusion([inner], ([f]) => form(f!)),
  };
}
