import { f32, type FusedProgram, type StorageBinding } from '../internal/wgsl.js';

/** The reference's emotion constants (the defaults of `trackEmotion`). */
export const EMOTION_CONSTANTS = {
  shortRate: 0.3,
  longRate: 0.01,
  gain: 5,
  calmMeanBelow: 0.05,
  calmVarianceBelow: 0.005,
} as const;

/**
 * Updates the emotion state of one step from the loss, in one invocation, entirely on
 * the device (the loss is never read back):
 *
 * ```
 * short = 0.3 * loss + 0.7 * short      long = 0.01 * loss + 0.99 * long     (both = loss on the first step)
 * s     = tanh(5 * (short - long))
 * history <- history[1:] ++ [s]
 * calm  = filled and mean(|history|) < 0.05 and var(history) < 0.005
 * ```
 *
 * `hyper.first` marks the first step and `hyper.filled` a full history window (both known
 * on the CPU from the step count). The loss comes from a buffer (a tensor loss) or from
 * `hyper.loss` (a number); that choice changes the source, so it is in the cache key.
 */
export class EmotionProgram implements FusedProgram {
  readonly cacheKey: string;
  readonly bindings: readonly StorageBinding[];
  readonly workgroupSize = 1;

  constructor(readonly lossFromBuffer: boolean) {
    this.cacheKey = `emosens.emotion.${lossFromBuffer ? 'buffer' : 'uniform'}`;
    this.bindings = [
      ...(lossFromBuffer ? [{ name: 'lossValue', access: 'read', type: 'f32' } as const] : []),
      { name: 'shortAverage', access: 'read_write', type: 'f32' },
      { name: 'longAverage', access: 'read_write', type: 'f32' },
      { name: 'emotion', access: 'read_write', type: 'f32' },
      { name: 'history', access: 'read_write', type: 'f32' },
      { name: 'calm', access: 'read_write', type: 'i32' },
    ];
  }

  getUserCode(): string {
    const c = EMOTION_CONSTANTS;
    return `
// tanh as tfjs-backend-webgpu computes it, so both paths agree.
fn emotionTanh(x: f32) -> f32 {
  let e2x = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e2x) / (1.0 + e2x);
}

@compute @workgroup_size(1)
fn main() {
  let loss = ${this.lossFromBuffer ? 'lossValue[0]' : 'hyper.loss'};
  var shortNext = loss;
  var longNext = loss;
  if (hyper.first == 0u) {
    shortNext = loss * ${f32(c.shortRate)} + shortAverage[0] * ${f32(1 - c.shortRate)};
    longNext = loss * ${f32(c.longRate)} + longAverage[0] * ${f32(1 - c.longRate)};
  }
  let s = emotionTanh((shortNext - longNext) * ${f32(c.gain)});
  shortAverage[0] = shortNext;
  longAverage[0] = longNext;
  emotion[0] = s;

  let n = arrayLength(&history);
  for (var k = 0u; k + 1u < n; k = k + 1u) {
    history[k] = history[k + 1u];
  }
  history[n - 1u] = s;

  var isCalm = 0;
  if (hyper.filled != 0u) {
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
