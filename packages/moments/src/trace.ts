import * as tf from '@tensorflow/tfjs-core';
import { EmosensError, check, composedUpdate, fx, initPerParameter, type FusionForm, type GradientTransformation, type LeafRef, type PerParameter, type Sym } from '@emosens/core';

/** Options of {@link trace}. */
export interface TraceOptions {
  /** Decay of the momentum buffer (torch's `momentum`), >= 0. Required. */
  readonly decay: number;
  /** Nesterov momentum: output `u + decay * buf` instead of `buf`. Default false; needs `decay > 0` and `dampening = 0`. */
  readonly nesterov?: boolean;
  /** Damps the incoming update after the first step: `buf = decay * buf + (1 - dampening) * u`. Default 0, in [0, 1]. */
  readonly dampening?: number;
}

/** State of {@link trace}. */
export type TraceState = {
  /** Updates seen so far, float32 scalar (the first step sets the buffer to the update). */
  readonly count: tf.Scalar;
  /** Momentum buffer per parameter (`momentum_buffer`), each the shape of its parameter. */
  readonly trace: PerParameter<tf.Tensor>;
};

/**
 * Momentum as `torch.optim.SGD` keeps it (heavy ball, optionally Nesterov), without the learning rate:
 *
 * ```
 * buf = u                                        (first step: no dampening)
 * buf = decay * buf + (1 - dampening) * u        (later steps)
 * out = nesterov ? u + decay * buf : buf
 * ```
 *
 * Options: `decay` (required, torch's `momentum`), `nesterov = false`, `dampening = 0`.
 * Matches `torch.optim.SGD(momentum=decay, dampening, nesterov)` (torch 1.13).
 *
 * ```ts
 * const sgdMomentum = chain(trace({ decay: 0.9, nesterov: true }), scaleByLearningRate(0.1));
 * ```
 */
export function trace(options: TraceOptions): GradientTransformation<TraceState> {
  const name = 'trace';
  const decay = check.number(name, 'decay', (options as TraceOptions | undefined)?.decay, { min: 0 });
  const dampening = check.number(name, 'dampening', options.dampening ?? 0, { min: 0, max: 1 });
  const nesterov = check.boolean(name, 'nesterov', options.nesterov ?? false);
  if (nesterov && (decay <= 0 || dampening !== 0)) {
    throw new EmosensError(
      'INVALID_OPTION',
      `${name}: option 'nesterov' needs decay > 0 and dampening 0, got decay ${decay} and dampening ${dampening}.`,
    );
  }

  // The math, once: the composed update is derived from it (one tf op per value).
  const fusion: FusionForm = {
    update(updates, state) {
      const s = state as { count: LeafRef; trace: Record<string, LeafRef | Sym> };
      const count = fx.step(s.count);
      const first = fx.eq(count, 0);
      const next = { ...s.trace };
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(updates)) {
        const old = fx.elem(s.trace[key] as LeafRef, key);
        const buf = fx.select(first, u, fx.add(fx.mul(old, decay), fx.mul(u, 1 - dampening)));
        next[key] = buf;
        out[key] = nesterov ? fx.add(u, fx.mul(buf, decay)) : buf;
      }
      return { updates: out, state: { count: fx.add(count, 1), trace: next } };
    },
  };

  return {
    name,
    init: (params) => ({
      count: tf.scalar(0),
      trace: initPerParameter(params, (p) => tf.zerosLike(p)),
    }),
    update: composedUpdate(name, fusion),
    fusion,
  };
}
