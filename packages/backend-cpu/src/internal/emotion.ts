import { EmosensError, validateLoss, type Loss } from '@emosens/core';
import type { FusedEmotionSlots } from '@emosens/optimizers';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { readValues, type StepStorage } from './cpu-storage.js';
import { f } from './float32.js';
import { advanceStepCount } from './step-count.js';

// trackEmotion's defaults, the reference's constants (the optimizers use them as is).
const SHORT_RATE = f(0.3);
const SHORT_KEEP = f(1 - 0.3);
const LONG_RATE = f(0.01);
const LONG_KEEP = f(1 - 0.01);
const GAIN = f(5);
const CALM_MEAN_BELOW = f(0.05);
const CALM_VARIANCE_BELOW = f(0.005);

/**
 * The step's loss as a float32 number. A number is rounded as `tf.scalar(loss)` would; a
 * scalar tensor is read from the cpu backend's memory directly (a typed-array lookup,
 * not `dataSync`/`readSync`: on the cpu backend nothing is transferred from a device).
 */
export function readLoss(backend: MathBackendCPU, loss: Loss | undefined, kernel: string): number {
  if (loss === undefined) {
    throw new EmosensError(
      'MISSING_LOSS',
      `Block '${kernel}' needs this step's loss, but none was given. Pass it with the step, e.g. step(grads, { loss }).`,
    );
  }
  validateLoss(loss);
  return typeof loss === 'number' ? f(loss) : readValues(backend, loss)[0]!;
}

/**
 * `trackEmotion`'s update, in place, in float32 as the composed ops round:
 *
 * ```
 * short = f(f(loss * 0.3) + f(short * 0.7))     (short = loss on the first step)
 * long  = f(f(loss * 0.01) + f(long * 0.99))    (long = loss on the first step)
 * s     = f(tanh(f(f(short - long) * 5)))
 * calm  = count + 1 >= window and mean(|history|) < 0.05 and var(history) < 0.005
 * count = count + 1      (a float32 scalar tensor, written in place like the others)
 * ```
 *
 * `count` is the count's value before the step (`readStepCount`). Every tensor is written
 * in place where that is safe (`StepStorage.writable`). Returns the emotion scalar `s`, for
 * the rest of the step.
 */
export function stepEmotion(storage: StepStorage, state: FusedEmotionSlots, count: number, loss: number): number {
  const shortValues = storage.writableValues(state.short);
  const longValues = storage.writableValues(state.long);
  const first = count === 0;
  const nextShort = first ? loss : f(f(loss * SHORT_RATE) + f(shortValues[0]! * SHORT_KEEP));
  const nextLong = first ? loss : f(f(loss * LONG_RATE) + f(longValues[0]! * LONG_KEEP));
  const s = f(Math.tanh(f(f(nextShort - nextLong) * GAIN)));
  shortValues[0] = nextShort;
  longValues[0] = nextLong;
  storage.writableValues(state.scalar)[0] = s;
  const h = storage.writableValues(state.history);
  h.copyWithin(0, 1);
  h[h.length - 1] = s;
  advanceStepCount(storage, state.count, count);
  const filled = f(count + 1) >= h.length;
  storage.boolValues(storage.writable(state.calm))[0] = filled && isCalm(h) ? 1 : 0;
  return s;
}

/**
 * The calm test over a full window, as `tf.moments` and `tf.mean` compute it on the
 * cpu backend (each entry divided by the count, then summed in float64).
 */
function isCalm(h: Float32Array): boolean {
  const n = f(h.length);
  let sum = 0;
  let absSum = 0;
  for (let i = 0; i < h.length; i++) {
    sum += f(h[i]! / n);
    absSum += f(Math.abs(h[i]!) / n);
  }
  const mean = f(sum);
  let varianceSum = 0;
  for (let i = 0; i < h.length; i++) {
    const d = f(h[i]! - mean);
    varianceSum += f(f(d * d) / n);
  }
  return f(absSum) < CALM_MEAN_BELOW && f(varianceSum) < CALM_VARIANCE_BELOW;
}
