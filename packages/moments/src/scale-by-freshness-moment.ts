import * as tf from '@tensorflow/tfjs-core';
import { check, composedUpdate, fx, initPerParameter, type FusionForm, type GradientTransformation, type LeafRef, type PerParameter, type Sym } from '@emosens/core';

/** Options of {@link scaleByFreshnessMoment}. */
export interface FreshnessMomentOptions {
  /** The moment's decay at rest: its rate `a` never falls below `1 - b1`. Default 0.9. */
  readonly b1?: number;
}

/** State of {@link scaleByFreshnessMoment}. */
export type FreshnessMomentState = {
  /** The previous weight reference (the reference's `prev_gl1`): float32 scalar, on the device. */
  readonly prev: tf.Scalar;
  /** 1 once the first step was taken (a previous reference exists), else 0: float32 scalar. */
  readonly started: tf.Scalar;
  /** The moment per parameter (the reference's `exp_avg`), each its parameter's shape. */
  readonly mu: PerParameter<tf.Tensor>;
};

/** tanh's input is the relative change of the weights' L1 norm over this: 0.03 gives tanh(1) at a 3% change. */
const FRESHNESS_SCALE = 0.03;

/**
 * EmoTion's moment (muooon/EmoSens v3.9.1, `optimizer/emotion.py`): an EMA of the gradients
 * whose rate rises while the weights move ("freshness"). Once per step, from the sum `L` of
 * the parameters' L1 norms (of the parameters, not the gradients):
 *
 * ```
 * first step:   fresh = 1,                                    prev = L
 * afterwards:   ratio = |L - prev| / (prev + 1e-8)
 *               fresh = max(tanh(ratio / 0.03), 1 - b1),      prev = L * ratio   (sic, as the reference)
 * per parameter: a = (1 - b1) * fresh,   m = (1 - a) * m + a * g,   u = m
 * ```
 *
 * It outputs the moment `m`; EmoTion follows it with `scaleBySign()` (`p -= pulse * sign(m)`).
 * Place it before `withShadow` in a chain, so that `L` is taken from the parameters before
 * the shadow blends them, as in the reference. Everything stays on the device (`prev` and
 * the first-step flag are float32 scalars): the reference reads the ratio back (`.item()`)
 * and takes the tanh in float64; here it is float32 (or the fused target's precision),
 * which agrees within the golden tolerance.
 *
 * ```ts
 * chain(scaleByFreshnessMoment({ b1: 0.9 }), scaleBySign(), scaleByLearningRate(1e-3))
 * ```
 */
export function scaleByFreshnessMoment(options: FreshnessMomentOptions = {}): GradientTransformation<FreshnessMomentState> {
  const name = 'scaleByFreshnessMoment';
  const b1 = check.number(name, 'b1', options.b1 ?? 0.9, { min: 0, max: 1, maxExclusive: true });
  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state, params) {
      const s = state as { prev: LeafRef; started: LeafRef; mu: Record<string, LeafRef | Sym> };
      const keys = Object.keys(updates);
      const started = fx.step(s.started);
      const prev = fx.step(s.prev);
      const norm = fx.sumParams(keys.map((k) => fx.sum(fx.abs(params[k]!))));
      const ratio = fx.div(fx.abs(fx.sub(norm, prev)), fx.add(prev, 1e-8));
      const fresh = fx.select(started, fx.max(fx.tanh(fx.div(ratio, FRESHNESS_SCALE)), 1 - b1), 1);
      const a = fx.mul(fresh, 1 - b1);
      const keep = fx.sub(1, a);
      const mu = { ...s.mu };
      const out: Record<string, Sym> = {};
      for (const [key, g] of Object.entries(updates)) {
        const m = fx.add(fx.mul(fx.elem(s.mu[key] as LeafRef, key), keep), fx.mul(g, a));
        mu[key] = m;
        out[key] = m;
      }
      return {
        updates: out,
        state: { prev: fx.select(started, fx.mul(norm, ratio), norm), started: fx.max(started, 1), mu },
      };
    },
  };

  return {
    name,
    init: (params) => ({ prev: tf.scalar(0), started: tf.scalar(0), mu: initPerParameter(params, (p) => tf.zerosLike(p)) }),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
