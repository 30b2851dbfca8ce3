import * as tf from '@tensorflow/tfjs-core';
import { combineFusion, fx, type GradientTransformation, type StateValue, type Sym } from '@emosens/core';

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
  return {
    name: `cautious(${inner.name})`,
    init: (params) => inner.init(params),
    update(updates, state, params, context) {
      const r = inner.update(updates, state, params, context);
      const out: Record<string, tf.Tensor> = {};
      for (const [key, u] of Object.entries(r.updates)) {
        const g = updates[key];
        // An empty update stays empty (tfjs-backend-webgpu's `sum` of an empty tensor throws).
        if (g === undefined || u.size === 0) {
          out[key] = u;
          continue;
        }
        const mask = tf.cast(tf.greater(tf.mul(u, g), 0), 'float32');
        const scale = tf.div(mask.size, tf.add(tf.sum(mask), 1));
        out[key] = tf.mul(tf.mul(u, mask), scale);
      }
      return { updates: out, state: r.state };
    },
    fusion: combineFusion([inner], ([form]) => ({
      update(updates, state, params, context) {
        const r = form!.update(updates, state, params, context);
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
    })),
  };
}
