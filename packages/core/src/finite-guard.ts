// The pieces of a non-finite guard computed on the device: one bool scalar for a step,
// and a select that applies it to a tensor without reading it back. Core's guard of a
// composed step uses them, and so can a fused kernel with `guardsNonFinite`.
import * as tf from '@tensorflow/tfjs-core';
import type { Loss, Updates } from './types.js';

/**
 * Whether the loss and every gradient are finite (no NaN, no ±Infinity), as one bool
 * scalar tensor owned by the caller. A tensor loss is checked on the device; a number loss
 * is known in JavaScript (no readback either way), as the float32 scalar a step makes of it
 * (so 1e39, which overflows to Infinity, is not finite). No loss counts as finite.
 *
 * ```ts
 * const ok = allFinite(loss, grads); // tf.Scalar, dtype 'bool'
 * ```
 */
export function allFinite(loss: Loss | undefined, grads: Updates): tf.Scalar {
  return tf.tidy(() => {
    let ok: tf.Tensor =
      loss === undefined || typeof loss === 'number'
        ? tf.scalar(loss === undefined || Number.isFinite(Math.fround(loss)), 'bool')
        : tf.reshape(tf.isFinite(loss), []);
    for (const g of Object.values(grads)) ok = tf.logicalAnd(ok, isAllFinite(g));
    return ok as tf.Scalar;
  });
}

/**
 * Whether every entry of `t` is finite, as a bool scalar owned by the caller. A zero-size
 * tensor has no entry that is not finite, so it counts as finite (`tf.all` of an empty
 * tensor is false on tfjs's backends, which made every step with a zero-size parameter
 * count as non-finite). Every finiteness test of core goes through here.
 */
export function isAllFinite(t: tf.Tensor): tf.Scalar {
  return tf.tidy(() => (t.size === 0 ? tf.scalar(true, 'bool') : tf.all(tf.isFinite(t)))) as tf.Scalar;
}

/**
 * `where(ok, a, b)` for a bool scalar `ok` and tensors `a`, `b` of one shape: `a` where the
 * step is applied, `b` (the old value, bit for bit) where it is skipped.
 *
 * `tf.where` broadcasts its condition with `broadcastTo`, which is the `Tile` kernel, and
 * the cpu backend's `Tile` reads its input through `readSync`. Broadcasting the condition
 * with `logicalAnd` instead keeps the select free of reads on every backend. `conditions`
 * caches the broadcast condition per shape: pass one map for all the selects of a step,
 * so each shape costs one broadcast. The cached tensors are ordinary intermediates (run it
 * inside `tf.tidy`).
 *
 * For a parameter, select the new value (`selectWhere(ok, tf.add(p, u), p, conditions)`)
 * rather than adding a selected update: `-0 + 0` is `+0`, so only the select keeps a
 * parameter entry of `-0` exact on a skipped step.
 *
 * ```ts
 * const conditions = new Map<string, tf.Tensor>();
 * p.assign(selectWhere(ok, tf.add(p, u), p, conditions));
 * const m2 = selectWhere(ok, mNext, m, conditions); // reuses the broadcast condition of p's shape
 * ```
 */
export function selectWhere(ok: tf.Scalar, a: tf.Tensor, b: tf.Tensor, conditions: Map<string, tf.Tensor>): tf.Tensor {
  if (a.rank === 0) return tf.where(ok, a, b);
  const key = a.shape.join(',');
  let condition = conditions.get(key);
  if (condition === undefined) {
    condition = tf.logicalAnd(ok, tf.ones(a.shape, 'bool'));
    conditions.set(key, condition);
  }
  return tf.where(condition, a, b);
}
