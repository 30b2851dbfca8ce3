import { combineFusion, composedUpdate, fx, innerForm, type FusionForm, type GradientTransformation, type StateValue, type Sym } from '@emosens/core';

/**
 * Cautious (Liang et al., "Cautious Optimizers", arXiv 2411.16085): zero the update
 * entries whose sign disagrees with the gradient, and rescale the rest so the update
 * keeps its overall size:
 *
 * ```
 * mask = 1[u * g > 0]
 * u    = u * mask * numel / (sum(mask) + 1)
 * ```
 *
 * Wrap a block whose output points along the gradient (before the learning rate flips
 * the sign). The state is the inner state.
 *
 * ```ts
 * chain(cautious(scaleByAdam()), scaleByLearningRate(1e-3))     // C-Adam
 * ```
 */
export function cautious<S extends StateValue>(inner: GradientTransformation<S>): GradientTransformation<S> {
  const name = `cautious(${inner.name})`;
  // The math, once, around the inner block's form (its fused form, or its tensors when it has none).
  const form = (innerF: FusionForm): FusionForm => ({
    update(updates, state, params, context) {
      const r = innerF.update(updates, state, params, context);
      const out: Record<string, Sym> = {};
      for (const [key, u] of Object.entries(r.updates)) {
        const g = updates[key];
        if (g === undefined) {
          out[key] = u;
          continue;
        }
        const mask = fx.gt(fx.mul(u, g), 0);
        const scale = fx.div(fx.size(g), fx.add(fx.sum(mask), 1));
        out[key] = fx.mul(fx.mul(u, mask), scale);
      }
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
