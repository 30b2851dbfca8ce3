import { EmosensError, validateLoss, type Loss, type StateValue } from '@emosens/core';
import type { EmotionState } from '@emosens/emotion';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { Scalar, Tensor1D } from '@tensorflow/tfjs-core';
import { readValues, type StepStorage } from './cpu-storage.js';
import { f } from './float32.js';
import type { StateReader } from './state-access.js';
import { advanceStepCount, readStepCount, type StepCount } from './step-count.js';

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

/** The emotion state as read before a step: its tensors and the step count's value. */
export interface ReadEmotionState extends Omit<EmotionState, 'count'> {
  readonly count: StepCount;
}

/** The emotion state's tensors, checked against the layout of `trackEmotion().init`. */
export function readEmotionState(backend: MathBackendCPU, state: StateValue | undefined, read: StateReader): ReadEmotionState {
  const o = read.object(state, 'emotion');
  const history = read.tensor(o.history, 'emotion/history') as Tensor1D;
  if (history.rank !== 1 || history.size < 1) read.fail('emotion/history', 'a non-empty vector');
  return {
    count: readStepCount(backend, o.count, 'emotion/count', read),
    short: read.tensor(o.short, 'emotion/short', []) as Scalar,
    long: read.tensor(o.long, 'emotion/long', []) as Scalar,
    scalar: read.tensor(o.scalar, 'emotion/scalar', []) as Scalar,
    history,
    calm: read.tensor(o.calm, 'emotion/calm', []) as Scalar,
  };
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
 * Returns the new state (the same tensors where they could be written in place) and
 * the emotion scalar `s` as a number, for the rest of the step.
 */
export function stepEmotion(storage: StepStorage, state: ReadEmotionState, loss: number): { state: EmotionState; scalar: number } {
  const short = storage.writable(state.short);
  const long = storage.writable(state.long);
  const scalar = storage.writable(state.scalar);
  const history = storage.writable(state.history);
  const calm = storage.writable(state.calm);
  const shortValues = storage.values(short);
  const longValues = storage.values(long);
  const first = state.count.value === 0;
  const nextShort = first ? loss : f(f(loss * SHORT_RATE) + f(shortValues[0]! * SHORT_KEEP));
  const nextLong = first ? loss : f(f(loss * LONG_RATE) + f(longValues[0]! * LONG_KEEP));
  const s = f(Math.tanh(f(f(nextShort - nextLong) * GAIN)));
  shortValues[0] = nextShort;
  longValues[0] = nextLong;
  storage.values(scalar)[0] = s;
  const h = storage.values(history);
  h.copyWithin(0, 1);
  h[h.length - 1] = s;
  const count = advanceStepCount(storage, state.count);
  const filled = f(state.count.value + 1) >= h.length;
  storage.boolValues(calm)[0] = filled && isCalm(h) ? 1 : 0;
  return { state: { count, short, long, scalar, history, calm }, scalar: s };
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
