// The all-finite flag that the 'skipExact' and 'throw' modes read back (one boolean per
// step). The 'skip' mode reads nothing: `applyStep(..., { skipNonFinite: true })` of
// @emosens/core guards the step on the device (or a fused kernel guards it).
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
