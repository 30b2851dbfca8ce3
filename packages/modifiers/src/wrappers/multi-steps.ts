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

/** Options of {@link multiSteps}. */
export interface MultiStepsOptions {
  /** How many consecutive steps' gradients are averaged into one inner step (an integer >= 1). Required. */
  readonly everyK: number;
}

/** State of {@link multiSteps}. */
export type MultiStepsState<S extends StateValue> = {
  /** Steps taken since the last inner step, in [0, everyK): a host number, so the inner step is known without a readback. */
  readonly miniStep: number;
  /** The sum of this cycle's gradients so far, per parameter (each of its parameter's shape, float32); empty when everyK is 1. */
  readonly acc: Readonly<Record<string, tf.Tensor>>;
  /** The inner block's state, unchanged between its steps. */
  readonly inner: S;
};

/**
 * Gradient accumulation (optax's `MultiSteps`): the gradients of `everyK` consecutive steps
 * are averaged, and `inner` runs once on their mean, on every `everyK`-th step; on the other
 * steps the updates are zero and `inner` is not called at all, so its state (moments, step
 * counts, a schedule's count) does not move in between:
 *
 * ```
 * steps 1 .. k-1 of a cycle:   acc <- acc + g;                  u = 0
 * step k:                      u, inner <- inner((acc + g) / k); acc <- 0
 * ```
 *
 * This is `torch` gradient accumulation (each micro-batch loss divided by k, `step()` every k
 * micro-batches). The position in the cycle is a host number (`miniStep`), so which step
 * runs the inner block is known without reading anything back; the sums stay on the device.
 * Under a non-finite guard that selects on the device (the composed path's `'skip'`),
 * `miniStep` still advances on a skipped step (host values are not guarded) while the sums
 * keep their old values, so that cycle averages fewer gradients; a fusion target that
 * guards its inputs leaves `miniStep` as it was.
 *
 * ```ts
 * import { chain } from '@emosens/core';
 * import { scaleByAdam } from '@emosens/moments';
 * import { multiSteps, scaleByLearningRate } from '@emosens/modifiers';
 * // Adam on the mean gradient of every 4 steps
 * const tx = multiSteps(chain(scaleByAdam(), scaleByLearningRate(1e-3)), { everyK: 4 });
 * ```
 */
export function multiSteps<S extends StateValue>(inner: GradientTransformation<S>, options: MultiStepsOptions): GradientTransformation<MultiStepsState<S>> {
  const name = `multiSteps(${inner.name})`;
  const everyK = check.integer('multiSteps', 'everyK', (options as Partial<MultiStepsOptions> | undefined)?.everyK);
  const form = (innerF: FusionForm): FusionForm => ({
    update(updates, state, params, context) {
      const s = state as { miniStep: number; acc: Readonly<Record<string, LeafRef>>; inner: SymTree };
      const acc: Record<string, SymTree> = { ...s.acc };
      if (s.miniStep + 1 < everyK) {
        // not yet: add the gradient to the sum, emit zeros (a select keeps them 0 even for a non-finite gradient)
        const out: Record<string, Sym> = {};
        for (const [key, g] of Object.entries(updates)) {
          acc[key] = fx.add(fx.elem(s.acc[key]!, key), g);
          out[key] = fx.select(g, 0, 0);
        }
        return { updates: out, state: { miniStep: s.miniStep + 1, acc, inner: s.inner } };
      }
      const mean: Record<string, Sym> = {};
      for (const [key, g] of Object.entries(updates)) {
        if (everyK === 1) {
          mean[key] = g;
          continue;
        }
        mean[key] = fx.div(fx.add(fx.elem(s.acc[key]!, key), g), everyK);
        acc[key] = fx.select(g, 0, 0);
      }
      const r = innerF.update(mean, s.inner, params, context);
      return { updates: r.updates, state: { miniStep: 0, acc, inner: r.state } };
    },
  });
  return {
    name,
    init: (params) => {
      const acc: Record<string, tf.Tensor> = {};
      if (everyK > 1) for (const [key, p] of Object.entries(params)) acc[key] = tf.zerosLike(p);
      return { miniStep: 0, acc, inner: inner.init(params) };
    },
    update: composedUpdate(name, form(innerForm(inner))),
    fusion: combineFusion([inner], ([f]) => form(f!)),
  };
}
