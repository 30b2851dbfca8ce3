import * as tf from '@tensorflow/tfjs-core';
import { check, composedUpdate, EmosensError, fx, isTensor, type FusionForm, type GradientTransformation, type LeafRef, type StateValue, type Sym } from '@emosens/core';

/** Options of {@link emaParams}. */
export interface EmaParamsOptions {
  /** The average's decay `d` in [0, 1): the weight of the old average each step. Default 0.999. */
  readonly decay?: number;
  /**
   * Debias (default true): start from zeros and divide by `1 - d^t`, as optax's `ema` does, so
   * the first average is the first step's parameters. Off: start from the initial parameters
   * and blend `d * avg + (1 - d) * p` (Keras' `use_ema`, TensorFlow's `ExponentialMovingAverage`).
   */
  readonly debias?: boolean;
}

/** State of {@link emaParams}. */
export type EmaParamsState = {
  /** The averaged parameters (debiased when `debias` is on), per parameter, each of its parameter's shape (float32). */
  readonly emaParams: Readonly<Record<string, tf.Tensor>>;
  /** With `debias`: steps averaged so far (float32 scalar, on the device). */
  readonly count?: tf.Scalar;
};

/**
 * An exponential moving average of the parameters after each step (Polyak averaging), kept
 * for evaluation; the updates pass through unchanged. With `x = p + u` (the parameters this
 * step produces, when the block is last in the chain or followed by blocks that do not
 * change the updates):
 *
 * ```
 * debias (default):  t += 1;  avg <- avg + (x - avg) * (1 - d) / (1 - d^t)     (= optax ema / (1 - d^t))
 * no debias:         avg <- d * avg + (1 - d) * x,   avg starting as the initial parameters
 * ```
 *
 * The kept average is read with {@link readEmaParams}. Put it last in the chain, after the
 * learning rate, so `p + u` are the new parameters. optax's `ema` averages the *updates*
 * instead (a transformation of the gradient): that one is `ema` in `@emosens/moments`.
 *
 * ```ts
 * import { chain, statefulOptimizer } from '@emosens/core';
 * import { scaleByAdam } from '@emosens/moments';
 * import { emaParams, readEmaParams, scaleByLearningRate } from '@emosens/modifiers';
 * const opt = statefulOptimizer(chain(scaleByAdam(), scaleByLearningRate(1e-3), emaParams({ decay: 0.99 })), params);
 * // ... opt.step(grads) ...
 * const evalWeights = readEmaParams(opt.state); // { name: tensor }, owned by the state
 * ```
 */
export function emaParams(options: EmaParamsOptions = {}): GradientTransformation<EmaParamsState> {
  const name = 'emaParams';
  const decay = check.number(name, 'decay', options.decay ?? 0.999, { min: 0, max: 1, maxExclusive: true });
  const debias = check.boolean(name, 'debias', options.debias ?? true);
  const fusion: FusionForm = {
    update(updates, state, params) {
      const s = state as { emaParams: Readonly<Record<string, LeafRef>>; count?: LeafRef };
      const next: Record<string, Sym | LeafRef> = { ...s.emaParams };
      let count: Sym | undefined;
      let weight: Sym | undefined;
      if (debias) {
        count = fx.add(fx.step(s.count!), 1);
        weight = fx.div(1 - decay, fx.sub(1, fx.pow(decay, count)));
      }
      for (const [key, u] of Object.entries(updates)) {
        const x = fx.add(params[key]!, u);
        const avg = fx.elem(s.emaParams[key]!, key);
        next[key] = weight !== undefined ? fx.add(avg, fx.mul(fx.sub(x, avg), weight)) : fx.add(fx.mul(decay, avg), fx.mul(1 - decay, x));
      }
      return { updates, state: count !== undefined ? { emaParams: next, count } : { emaParams: next } };
    },
  };
  return {
    name,
    init(params) {
      const avg: Record<string, tf.Tensor> = {};
      // a computed copy: tf.clone shares the parameter's storage, which a fused step would refuse
      for (const [key, p] of Object.entries(params)) avg[key] = debias ? tf.zerosLike(p) : tf.tidy(() => tf.mul(p, 1));
      return debias ? { emaParams: avg, count: tf.scalar(0) } : { emaParams: avg };
    },
    update: composedUpdate(name, fusion),
    fusion,
  };
}

/**
 * The averaged parameters an {@link emaParams} block keeps, found in an optimizer's state (the
 * whole state or any part holding it). The tensors belong to the state: copy them to keep them
 * past the next step. Throws `INVALID_STATE` when the state holds no such average, or more
 * than one (then pass the part that holds the one you want).
 */
export function readEmaParams(state: StateValue): Readonly<Record<string, tf.Tensor>> {
  const found: { path: string; value: Readonly<Record<string, tf.Tensor>> }[] = [];
  const isRecordOfTensors = (v: unknown): v is Readonly<Record<string, tf.Tensor>> =>
    typeof v === 'object' && v !== null && !Array.isArray(v) && !isTensor(v) && Object.values(v).every(isTensor);
  const walk = (v: StateValue, path: string): void => {
    if (isTensor(v) || typeof v !== 'object' || v === null) return;
    if (!Array.isArray(v)) {
      const o = v as Readonly<Record<string, StateValue>>;
      const keys = Object.keys(o);
      if (isRecordOfTensors(o.emaParams) && keys.every((k) => k === 'emaParams' || (k === 'count' && isTensor(o.count)))) {
        found.push({ path: path || '(root)', value: o.emaParams });
        return;
      }
    }
    for (const [k, x] of Object.entries(v)) walk(x as StateValue, path ? `${path}/${k}` : k);
  };
  walk(state, '');
  if (found.length === 1) return found[0]!.value;
  if (found.length === 0) throw new EmosensError('INVALID_STATE', 'readEmaParams: the state holds no emaParams average; add emaParams() to the chain.');
  throw new EmosensError('INVALID_STATE', `readEmaParams: the state holds ${found.length} emaParams averages (at ${found.map((f) => f.path).join(', ')}); pass the part that holds the one you want.`);
}
