import { f32, GUARD, GUARD_RETURN, type FusedProgram, type StorageBinding } from '../internal/wgsl.js';

/** The reference's emotion constants (the defaults of `trackEmotion`). */
export const EMOTION_CONSTANTS = {
  shortRate: 0.3,
  longRate: 0.01,
  gain: 5,
  calmMeanBelow: 0.05,
  calmVarianceBelow: 0.005,
} as const;

/** What changes an {@link EmotionProgram}'s source. */
export interface EmotionVariant {
  /** The loss comes from a buffer (a tensor loss) rather than from `hyper.loss` (a number). */
  readonly lossFromBuffer: boolean;
  /** Also advance Adam's step count (EmoSens, EmoAiry): one invocation, so exactly once per step. */
  readonly adamCount: boolean;
  /**
   * The step checks non-finite input (`skipNonFinite`): bind the guard buffer, write
   * nothing when its `ok` word is 0, read the loss from it (the check copied a tensor
   * loss there; the host wrote a number loss) and leave the new scalar there for the
   * later dispatches. `lossFromBuffer` then changes nothing. Default false.
   */
  readonly guarded?: boolean;
}

/**
 * Updates the emotion state of one step from the loss, in one invocation, entirely on
 * the device (neither the loss nor the step count is read back):
 *
 * ```
 * first  = count == 0                  filled = count + 1 >= |history|        count <- count + 1
 * short  = 0.3 * loss + 0.7 * short    long   = 0.01 * loss + 0.99 * long     (both = loss when first)
 * s      = tanh(5 * (short - long))
 * history <- history[1:] ++ [s]
 * calm   = filled and mean(|history|) < 0.05 and var(history) < 0.005
 * ```
 *
 * With `adamCount`, it also advances the optimizer's Adam count (`adamCount <- adamCount + 1`):
 * the Emo optimizers' Adam moments are not bias-corrected, so no update dispatch reads it,
 * and this single invocation is the one place per step that writes it. The loss comes from
 * a buffer, from `hyper.loss`, or (guarded) from the guard buffer; each choice changes the
 * source, so it is in the cache key.
 */
export class EmotionProgram implements FusedProgram {
  readonly cacheKey: string;
  readonly bindings: readonly StorageBinding[];
  readonly workgroupSize = 1;
  /** Only a number loss comes from the uniform block; everything else is in the state's buffers. */
  readonly usesHyper: boolean;

  constructor(readonly variant: EmotionVariant) {
    const { lossFromBuffer, adamCount } = variant;
    const guarded = variant.guarded === true;
    this.usesHyper = !lossFromBuffer && !guarded;
    const lossFrom = guarded ? 'guarded' : lossFromBuffer ? 'buffer' : 'uniform';
    this.cacheKey = `emosens.emotion.${lossFrom}.${adamCount ? 'adamCount' : 'noAdamCount'}`;
    this.bindings = [
      ...(guarded
        ? [{ name: 'guard', access: 'read_write', type: 'i32' } as const]
        : lossFromBuffer
          ? [{ name: 'lossValue', access: 'read', type: 'f32' } as const]
          : []),
      { name: 'stepCount', access: 'read_write', type: 'f32' },
      { name: 'shortAverage', access: 'read_write', type: 'f32' },
      { name: 'longAverage', access: 'read_write', type: 'f32' },
      { name: 'emotion', access: 'read_write', type: 'f32' },
      { name: 'history', access: 'read_write', type: 'f32' },
      { name: 'calm', access: 'read_write', type: 'i32' },
      ...(adamCount ? [{ name: 'adamCount', access: 'read_write', type: 'f32' } as const] : []),
    ];
  }

  getUserCode(): string {
    const c = EMOTION_CONSTANTS;
    const guarded = this.variant.guarded === true;
    const loss = guarded ? `bitcast<f32>(guard[${GUARD.loss}])` : this.variant.lossFromBuffer ? 'lossValue[0]' : 'hyper.loss';
    return `
// tanh as tfjs-backend-webgpu computes it, so both paths agree.
fn emotionTanh(x: f32) -> f32 {
  let e2x = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e2x) / (1.0 + e2x);
}

@compute @workgroup_size(1)
fn main() {
${guarded ? `  ${GUARD_RETURN}\n` : ''}  let n = arrayLength(&history);
  // The count is a float32 holding an integer (exact up to 2^24), as on the composed path.
  let seen = stepCount[0];
  let first = seen == 0.0;
  let filled = seen + 1.0 >= f32(n);
  stepCount[0] = seen + 1.0;
${this.variant.adamCount ? '  adamCount[0] = adamCount[0] + 1.0;\n' : ''}
  let loss = ${loss};
  var shortNext = loss;
  var longNext = loss;
  if (!first) {
    shortNext = loss * ${f32(c.shortRate)} + shortAverage[0] * ${f32(1 - c.shortRate)};
    longNext = loss * ${f32(c.longRate)} + longAverage[0] * ${f32(1 - c.longRate)};
  }
  let s = emotionTanh((shortNext - longNext) * ${f32(c.gain)});
  shortAverage[0] = shortNext;
  longAverage[0] = longNext;
  emotion[0] = s;
${guarded ? `  guard[${GUARD.emotion}] = bitcast<i32>(s);\n` : ''}
  for (var k = 0u; k + 1u < n; k = k + 1u) {
    history[k] = history[k + 1u];
  }
  history[n - 1u] = s;

  var isCalm = 0;
  if (filled) {
    var sumAbs = 0.0;
    var sum = 0.0;
    for (var k = 0u; k < n; k = k + 1u) {
      sumAbs = sumAbs + abs(history[k]);
      sum = sum + history[k];
    }
    let mean = sum / f32(n);
    var sumSquares = 0.0;
    for (var k = 0u; k < n; k = k + 1u) {
      let d = history[k] - mean;
      sumSquares = sumSquares + d * d;
    }
    if (sumAbs / f32(n) < ${f32(c.calmMeanBelow)} && sumSquares / f32(n) < ${f32(c.calmVarianceBelow)}) {
      isCalm = 1;
    }
  }
  calm[0] = isCalm;
}
`;
  }
}
