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
  type SymTree,
} from '@emosens/core';

/** Options of {@link lookahead}. */
export interface LookaheadOptions {
  /** Inner ("fast") steps between two syncs, an integer >= 1. Default 5. */
  readonly syncPeriod?: number;
  /** How far the slow weights move toward the fast ones at a sync, in [0, 1]. Default 0.5. */
  readonly alpha?: number;
}

/** State of {@link lookahead}. */
export type LookaheadState<S extends StateValue> = {
  /** Inner steps since the last sync, in [0, syncPeriod): a host number, so a sync is known without a readback. */
  readonly fastStep: number;
  /** The slow weights, per parameter (each of its parameter's shape, float32); they start as the initial parameters. */
  readonly slow: Readonly<Record<string, tf.Tensor>>;
  /** The inner block's state. */
  readonly inner: S;
};

/**
 * Lookahead (Zhang, Lucas, Hinton & Ba, "Lookahead Optimizer: k steps forward, 1 step back",
 * arXiv 1907.08610), as the usual torch wrapper runs it: `inner` takes every step (the "fast"
 * weights are the parameters); after every `syncPeriod` inner steps the slow weights move
 * toward the fast ones and the parameters are set to them:
 *
 * ```
 * every step:          u = inner(g)                       (fast = p + u)
 * every k-th step:     slow <- slow + alpha * (p + u - slow);   u = slow - p   (so p + u = slow)
 * ```
 *
 * The slow weights start as the initial parameters (`init` copies them) and live in state
 * key `slow`. The position in the period is a host number (`fastStep`); under a non-finite
 * guard that selects on the device (the composed path's `'skip'`) it still advances on a
 * skipped step, while a fusion target that guards its inputs leaves it as it was. A
 * parameter without a gradient on a sync step keeps its slow weights.
 *
 * optax's `lookahead` computes the same sync but keeps fast and slow weights together as
 * the parameters (`LookaheadParams`), so its caller trains the fast ones and evaluates the
 * slow ones; here the parameters are the fast weights between syncs, as in torch.
 *
 * ```ts
 * import { chain } from '@emosens/core';
 * import { scaleByAdam } from '@emosens/moments';
 * import { lookahead, scaleByLearningRate } from '@emosens/modifiers';
 * const tx = lookahead(chain(scaleByAdam(), scaleByLearningRate(1e-3)), { syncPeriod: 5, alpha: 0.5 });
 * ```
 */
export function lookahead<S extends StateValue>(inner: GradientTransformation<S>, options: LookaheadOptions = {}): GradientTransformation<LookaheadState<S>> {
  const name = `lookahead(${inner.name})`;
  const syncPeriod = check.integer('lookahead', 'syncPeriod', options.syncPeriod ?? 5);
  const alpha = check.number('lookahead', 'alpha', options.alpha ?? 0.5, { min: 0, max: 1 });
  const form = (innerF: FusionForm): FusionForm => ({
    update(updates, state, params, context) {
      const s = state as { fastStep: number; slow: Readonly<Record<string, LeafRef>>; inner: SymTree };
      const r = innerF.update(updates, s.inner, params, context);
      if (s.fastStep + 1 < syncPeriod) return { updates: r.updates, state: { fastStep: s.fastStep + 1, slow: s.slow, inner: r.state } };
      const slow: Record<string, SymTree> = { ...s.slow };
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(r.updates)) {
        const p = params[key]!;
        const old = fx.elem(s.slow[key]!, key);
        const next = fx.add(old, fx.mul(alpha, fx.sub(fx.add(p, u), old)));
        slow[key] = next;
        out[key] = fx.sub(next, p);
      }
      return { updates: out, state: { fastStep: 0, slow, inner: r.state } };
    },
  });
  return {
    name,
    init: (params) => {
      const slow: Record<string, tf.Tensor> = {};
      // a computed copy: tf.clone shares the parameter's storage, which a fused step would refuse (and could overwrite)
      for (const [key, p] of Object.entries(params)) slow[key] = tf.tidy(() => tf.mul(p, 1));
      return { fastStep: 0, slow, inner: inner.init(params) };
    },
    update: composedUpdate(name, form(innerForm(inner))),
    fusion: combineFusion([inner], ([f]) => form(f!)),
  };
}
