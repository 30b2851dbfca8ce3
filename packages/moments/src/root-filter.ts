import * as tf from '@tensorflow/tfjs-core';
import { check, combineFusion, EmosensError, fx, type GradientTransformation, type StateValue, type Sym } from '@emosens/core';
import type {} from '@emosens/emotion'; // declares the `emotion` signal read below
import type { Tensor } from '@tensorflow/tfjs-core';
import { factoredStatistics, factoredStatisticsSym, outerProduct } from './moment-math.js';

/** Which statistic of the gradient the filter takes the root of. */
export type RootFilterStatistic = 'abs' | 'square' | 'factored';

/** Options of {@link rootFiltered} and {@link rootFilterMask}. */
export interface RootFilterOptions {
  /**
   * `'abs'`: `|g|^(1/root)` per entry (EmoSens, EmoCats). `'square'`: `(g^2)^(1/root)` per
   * entry (EmoAiry's vectors). `'factored'`: rows and columns of rank >= 2 tensors pass
   * when both `r^(1/root)` and `c^(1/root)` do (EmoAiry's matrices). Default `'abs'`.
   */
  readonly statistic?: RootFilterStatistic;
  /** Threshold at emotion 0; it grows as `base * (1 + |emotion|)`. Default 1e-4. */
  readonly base?: number;
  /** Which root. Default 3 (cube root). */
  readonly root?: number;
  /** Keep entries equal to the threshold (`>=`). Default true for 'abs', false otherwise (as the reference). */
  readonly inclusive?: boolean;
  /** Added to the factored statistics. Default 1e-8. */
  readonly eps?: number;
}

/** The filter threshold at emotion scalar `s`: `base * (1 + |s|)`. */
export function filterThreshold(emotion: tf.Scalar, base = 1e-4): tf.Scalar {
  return tf.mul(tf.add(tf.abs(emotion), 1), base);
}

/**
 * The 0/1 mask of the root filter for one gradient (float32, the gradient's shape).
 * See {@link rootFiltered}.
 */
export function rootFilterMask(g: Tensor, threshold: tf.Scalar, options: RootFilterOptions = {}): Tensor {
  const statistic = options.statistic ?? 'abs';
  const power = 1 / (options.root ?? 3);
  const inclusive = options.inclusive ?? statistic === 'abs';
  const pass = (x: Tensor) => tf.cast(inclusive ? tf.greaterEqual(x, threshold) : tf.greater(x, threshold), 'float32');
  switch (statistic) {
    case 'abs':
      return pass(tf.pow(tf.abs(g), power));
    case 'square':
      return pass(tf.pow(tf.square(g), power));
    case 'factored': {
      if (g.rank < 2) {
        throw new EmosensError('INVALID_OPTION', `rootFiltered: the 'factored' statistic needs rank >= 2, got rank ${g.rank}.`);
      }
      const { r, c } = factoredStatistics(g, options.eps ?? 1e-8);
      return outerProduct(pass(tf.pow(r, power)) as tf.Tensor1D, pass(tf.pow(c, power)));
    }
  }
}

/**
 * The emotion filter: runs `inner`, then zeroes the update entries whose gradient is
 * too small, by a root of the gradient's magnitude against a threshold that rises
 * with the emotion scalar (read from the `emotion` signal):
 *
 * ```
 * threshold = base * (1 + |s|)                  (base 1e-4)
 * keep      = |g|^(1/3) >= threshold            ('abs'; 'square' uses (g^2)^(1/3) > threshold)
 * u_out     = inner(g) * keep
 * ```
 *
 * The mask is taken from the incoming gradients; the inner state (moments) is updated
 * from the unmasked gradients, as in the reference. The state is the inner state.
 *
 * ```ts
 * chain(trackEmotion(), rootFiltered(scaleByAdam({ biasCorrection: false })), scaleByLearningRate(1e-3))
 * ```
 */
export function rootFiltered<S extends StateValue>(
  inner: GradientTransformation<S>,
  options: RootFilterOptions = {},
): GradientTransformation<S> {
  const name = `rootFiltered(${inner.name})`;
  const statistic = options.statistic ?? 'abs';
  if (!['abs', 'square', 'factored'].includes(statistic)) {
    throw new EmosensError('INVALID_OPTION', `rootFiltered: option 'statistic' must be 'abs', 'square' or 'factored', got ${String(statistic)}.`);
  }
  const base = check.number('rootFiltered', 'base', options.base ?? 1e-4, { min: 0 });
  const root = check.number('rootFiltered', 'root', options.root ?? 3, { min: 0, minExclusive: true });
  const inclusive = check.boolean('rootFiltered', 'inclusive', options.inclusive ?? statistic === 'abs');
  const eps = check.number('rootFiltered', 'eps', options.eps ?? 1e-8, { min: 0 });
  const maskOptions = { statistic, root, inclusive, eps };

  return {
    name,
    init: (params) => inner.init(params),
    update(updates, state, params, context) {
      const threshold = filterThreshold(context.read('emotion', name), base);
      const masks: Record<string, Tensor> = {};
      for (const [key, g] of Object.entries(updates)) masks[key] = rootFilterMask(g, threshold, maskOptions);
      const r = inner.update(updates, state, params, context);
      const out: Record<string, Tensor> = {};
      for (const [key, u] of Object.entries(r.updates)) out[key] = masks[key] ? tf.mul(u, masks[key]) : u;
      return { updates: out, state: r.state };
    },
    fusion: combineFusion([inner], ([form]) => ({
      update(updates, state, params, context) {
        const threshold = fx.mul(fx.add(fx.abs(context.read('emotion', name)), 1), base);
        const masks: Record<string, Sym> = {};
        for (const [key, g] of Object.entries(updates)) masks[key] = rootFilterMaskSym(g, threshold, maskOptions);
        const r = form!.update(updates, state, params, context);
        const out: Record<string, Sym> = {};
        for (const [key, u] of Object.entries(r.updates)) out[key] = masks[key] ? fx.mul(u, masks[key]) : u;
        return { updates: out, state: r.state };
      },
    })),
  };
}

/** {@link rootFilterMask} over symbolic values (the fused form). */
function rootFilterMaskSym(g: Sym, threshold: Sym, options: Required<Omit<RootFilterOptions, 'base'>>): Sym {
  const power = 1 / options.root;
  const pass = (x: Sym) => (options.inclusive ? fx.ge(x, threshold) : fx.gt(x, threshold));
  switch (options.statistic) {
    case 'abs':
      return pass(fx.pow(fx.abs(g), power));
    case 'square':
      return pass(fx.pow(fx.square(g), power));
    case 'factored': {
      const { r, c } = factoredStatisticsSym(g, options.eps);
      return fx.mul(pass(fx.pow(r, power)), pass(fx.pow(c, power)));
    }
  }
}
