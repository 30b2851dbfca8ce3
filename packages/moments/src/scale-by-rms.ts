import * as tf from '@tensorflow/tfjs-core';
import { check, composedUpdate, fx, initPerParameter, type FusionForm, type GradientTransformation, type LeafRef, type PerParameter, type Sym } from '@emosens/core';
import { updateMomentSym } from './moment-math.js';

/** Options of {@link scaleByRms}. */
export interface ScaleByRmsOptions {
  /** Decay of the squared-update average (torch's `alpha`). Default 0.99, in [0, 1]. */
  readonly alpha?: number;
  /** Added to the root of the average. Default 1e-8. */
  readonly eps?: number;
  /** Subtract the squared mean update from the average (centered RMSprop). Default false. */
  readonly centered?: boolean;
  /** Initial value of the squared-update average. Default 0 (as torch). */
  readonly initialScale?: number;
}

/** State of {@link scaleByRms}. */
export type RmsState = {
  /** Average of squared updates per parameter (`square_avg`), each the shape of its parameter. */
  readonly nu: PerParameter<tf.Tensor>;
  /** Average of updates per parameter (`grad_avg`), each the shape of its parameter; empty unless `centered`. */
  readonly mu: PerParameter<tf.Tensor>;
};

/**
 * Divides updates by the root of their running mean square, as `torch.optim.RMSprop` without the learning rate:
 *
 * ```
 * v = alpha * v + (1 - alpha) * u^2
 * m = alpha * m + (1 - alpha) * u                  (centered only)
 * out = u / (sqrt(v) + eps)                        (centered: u / (sqrt(v - m^2) + eps))
 * ```
 *
 * Options: `alpha = 0.99`, `eps = 1e-8`, `centered = false`, `initialScale = 0`.
 * Matches `torch.optim.RMSprop(alpha, eps, centered, momentum=0)` (torch 1.13).
 *
 * ```ts
 * const rmsprop = chain(scaleByRms({ alpha: 0.9 }), scaleByLearningRate(1e-2));
 * ```
 */
export function scaleByRms(options: ScaleByRmsOptions = {}): GradientTransformation<RmsState> {
  const name = 'scaleByRms';
  const alpha = check.number(name, 'alpha', options.alpha ?? 0.99, { min: 0, max: 1 });
  const eps = check.number(name, 'eps', options.eps ?? 1e-8, { min: 0 });
  const centered = check.boolean(name, 'centered', options.centered ?? false);
  const initialScale = check.number(name, 'initialScale', options.initialScale ?? 0, { min: 0 });

  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state) {
      const s = state as { nu: Record<string, LeafRef | Sym>; mu: Record<string, LeafRef | Sym> };
      const nu = { ...s.nu };
      const mu = { ...s.mu };
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(updates)) {
        const v = updateMomentSym(fx.elem(s.nu[key] as LeafRef, key), fx.square(u), alpha);
        nu[key] = v;
        let avg: Sym;
        if (centered) {
          const m = updateMomentSym(fx.elem(s.mu[key] as LeafRef, key), u, alpha);
          mu[key] = m;
          avg = fx.sqrt(fx.sub(v, fx.square(m)));
        } else {
          avg = fx.sqrt(v);
        }
        out[key] = fx.div(u, fx.add(avg, eps));
      }
      return { updates: out, state: { nu, mu } };
    },
  };

  return {
    name,
    init: (params) => ({
      nu: initPerParameter(params, (p) => tf.fill(p.shape, initialScale, 'float32')),
      mu: centered ? initPerParameter(params, (p) => tf.zerosLike(p)) : {},
    }),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
