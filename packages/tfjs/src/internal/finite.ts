// The non-finite guard, computed on the device: one boolean scalar for the whole step,
// and a select that applies it without reading it back.
import * as tf from '@tensorflow/tfjs-core';
import type { Updates } from '@emosens/core';

/**
 * Whether the loss (when it is a tensor) and every gradient are finite, as one bool
 * scalar. Nothing is read back; a number loss is checked by the caller in JavaScript.
 */
export function allFinite(loss: tf.Scalar | undefined, grads: Updates): tf.Scalar {
  return tf.tidy(() => {
    let ok: tf.Tensor = loss === undefined ? tf.scalar(true, 'bool') : tf.reshape(tf.isFinite(loss), []);
    for (const g of Object.values(grads)) ok = tf.logicalAnd(ok, tf.all(tf.isFinite(g)));
    return ok as tf.Scalar;
  });
}

/**
 * `where(ok, a, b)` for a bool scalar `ok` and `a`, `b` of one shape.
 *
 * `tf.where` broadcasts its condition with `broadcastTo`, which is the `Tile` kernel;
 * the cpu backend's `Tile` reads its input through `readSync`. Broadcasting the
 * condition with `logicalAnd` instead keeps the select free of reads on every backend.
 * `conditions` caches the broadcast condition per shape within one step.
 */
export function select(ok: tf.Scalar, a: tf.Tensor, b: tf.Tensor, conditions: Map<string, tf.Tensor>): tf.Tensor {
  if (a.rank === 0) return tf.where(ok, a, b);
  const key = a.shape.join(',');
  let condition = conditions.get(key);
  if (condition === undefined) {
    condition = tf.logicalAnd(ok, tf.ones(a.shape, 'bool'));
    conditions.set(key, condition);
  }
  return tf.where(condition, a, b);
}
