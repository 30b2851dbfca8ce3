import * as tf from '@tensorflow/tfjs-core';
import { check, composedUpdate, fx, initPerParameter, type FusionForm, type GradientTransformation, type LeafRef, type PerParameter, type Sym } from '@emosens/core';

/** Options of {@link scaleByAdagrad}. */
export interface ScaleByAdagradOptions {
  /** Added to the root of the accumulator. Default 1e-10 (as torch). */
  readonly eps?: number;
  /** Initial value of the accumulator (torch's `initial_accumulator_value`). Default 0. */
  readonly initialAccumulatorValue?: number;
}

/** State of {@link scaleByAdagrad}: the sum of squared updates per parameter (`sum`), each the shape of its parameter. */
export type AdagradState = PerParameter<tf.Tensor>;

/**
 * Divides updates by the root of the sum of their squares, as `torch.optim.Adagrad` without the learning rate:
 *
 * ```
 * sum = sum + u^2
 * out = u / (sqrt(sum) + eps)
 * ```
 *
 * Options: `eps = 1e-10`, `initialAccumulatorValue = 0`.
 * Matches `torch.optim.Adagrad(lr_decay=0, eps, initial_accumulator_value)` (torch 1.13).
 *
 * ```ts
 * const adagrad = chain(scaleByAdagrad(), scaleByLearningRate(1e-2));
 * ```
 */
export function scaleByAdagrad(options: ScaleByAdagradOptions = {}): GradientTransformation<AdagradState> {
  const name = 'scaleByAdagrad';
  const eps = check.number(name, 'eps', options.eps ?? 1e-10, { min: 0 });
  const initial = check.number(name, 'initialAccumulatorValue', options.initialAccumulatorValue ?? 0, { min: 0 });

  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state) {
      const s = state as Record<string, LeafRef | Sym>;
      const next = { ...s };
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(updates)) {
        const sum = fx.add(fx.elem(s[key] as LeafRef, key), fx.square(u));
        next[key] = sum;
        out[key] = fx.div(u, fx.add(fx.sqrt(sum), eps));
      }
      return { updates: out, state: next };
    },
  };

  return {
    name,
    init: (params) => initPerParameter(params, (p) => tf.fill(p.shape, initial, 'float32')),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
