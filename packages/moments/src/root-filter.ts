import { check, combineFusion, composedUpdate, EmosensError, fx, innerForm, type FusionForm, type GradientTransformation, type StateValue, type Sym } from '@emosens/core';
import type {} from '@emosens/emotion'; // declares the `emotion` signal read below
import { factoredStatisticsSym } from './moment-math.js';

/** Which statistic of the gradient the filter takes the root of. */
export type RootFilterStatistic = 'abs' | 'square' | 'factored';

/** Options of {@link rootFiltered}. */
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

  // The math, once, around the inner block's form (its fused form, or its tensors when it has none).
  const form = (innerF: FusionForm): FusionForm => ({
    update(updates, state, params, context) {
      const threshold = fx.mul(fx.add(fx.abs(context.read('emotion', name)), 1), base);
      const masks: Record<string, Sym> = {};
      for (const [key, g] of Object.entries(updates)) {
        if (statistic === 'factored' && fx.rank(key) < 2) {
          throw new EmosensError('INVALID_OPTION', `rootFiltered: the 'factored' statistic needs rank >= 2, got rank ${fx.rank(key)} for '${key}'.`);
        }
        masks[key] = rootFilterMask(g, threshold, maskOptions);
      }
      const r = innerF.update(updates, state, params, context);
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(r.updates)) out[key] = masks[key] ? fx.mul(u, masks[key]) : u;
      return { updates: out, state: r.state };
    },
  });
  return {
    name,
    init: (params) => inner.init(params),
    update: composedUpdate(name, form(innerForm(inner))),
    fusion: combineFusion([inner], ([f]) => form(f!)),
  };
}

/** The 0/1 mask of the root filter for one gradient: `pass(root(statistic(g)))` (see {@link rootFiltered}). */
function rootFilterMask(g: Sym, threshold: Sym, options: Required<Omit<RootFilterOptions, 'base'>>): Sym {
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
