/**
 * Float32 arithmetic as the composed path does it. Every tfjs cpu op computes in
 * float64 and stores its result in a Float32Array, so one op is `f(x op y)`, and a
 * number handed to an op becomes a float32 scalar first: `tf.mul(t, 0.9)` is
 * `f(t * f(0.9))`. The scalar parts of a step (emotion, calm, shadow ratio, filter
 * threshold) always round at the same points; the element loops do so at `'exact'`
 * precision (bit-identical results), and round only when storing at `'fast'` precision.
 */
export const f = Math.fround;

/**
 * `tf.sign` on the cpu backend: -1, 1, or 0 (also for NaN). Written without branches:
 * gradient signs are random, and a branch on them mispredicts half the time (V8 turns
 * `Number(comparison)` into a flag move; `Math.sign` is several times slower here).
 */
export function sign(x: number): number {
  return Number(x > 0) - Number(x < 0);
}

const bits = new Float32Array(1);
const bitsView = new Uint32Array(bits.buffer);
const POSITIVE_INFINITY_BITS = 0x7f800000;

function floatFromBits(b: number): number {
  bitsView[0] = b;
  return bits[0]!;
}

/**
 * The smallest float32 `x >= 0` for which `test(x)` holds, given that `test` is
 * monotone (false then true) over the non-negative floats; `NaN` when it never holds.
 * A binary search over float32 bit patterns: 32 evaluations.
 *
 * The root filter keeps an entry when `f(pow(|g|, f(1/3))) >= threshold`: the fused
 * kernels find the cutoff on `|g|` once per step and compare each entry against it,
 * which is the same decision as the composed path's without a `pow` per entry.
 */
export function smallestPassing(test: (x: number) => boolean): number {
  if (!test(Infinity)) return NaN;
  if (test(0)) return 0;
  let lo = 0; // fails
  let hi = POSITIVE_INFINITY_BITS; // passes
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (test(floatFromBits(mid))) hi = mid;
    else lo = mid;
  }
  return floatFromBits(hi);
}

/** The cube-root filter's exponent as the composed path uses it: `f(1/3)`. */
export const ROOT_POWER = f(1 / 3);

/** The composed filter's threshold at emotion scalar `s`: `f(f(|s| + 1) * f(base))`. */
export function filterThreshold(s: number, base = 1e-4): number {
  return f(f(Math.abs(s) + 1) * f(base));
}

/**
 * The cutoff on `|g|` such that `|g| >= cutoff` exactly when the composed root filter
 * keeps the entry: `'abs'` keeps `f(pow(|g|, f(1/3))) >= threshold` (EmoSens, EmoCats),
 * `'square'` keeps `f(pow(f(g*g), f(1/3))) > threshold` (EmoAiry's vectors). Both are
 * monotone in `|g|`, so one cutoff per step replaces a `pow` per entry.
 */
export function rootCutoff(threshold: number, statistic: 'abs' | 'square'): number {
  if (Number.isNaN(threshold)) return NaN;
  return statistic === 'abs'
    ? smallestPassing((x) => f(Math.pow(x, ROOT_POWER)) >= threshold)
    : smallestPassing((x) => f(Math.pow(f(x * x), ROOT_POWER)) > threshold);
}

/**
 * How the element loops round. `'exact'`: to float32 after every operation, in the
 * composed path's order, so fused and composed steps are bit-identical. `'fast'` (the
 * default): values are float32 when stored and float64 within an entry's arithmetic,
 * which agrees with the composed path within the golden tolerance and is a few times
 * faster (every rounding is a conversion on the critical path of the loop).
 */
export type Precision = 'fast' | 'exact';

/**
 * One moving-average step as the composed ops round it: `f(f(prev * keep) + f(x * rate))`
 * (`tf.add(tf.mul(prev, keep), tf.mul(x, rate))`). Small and monomorphic: V8 inlines it
 * into the element loops.
 */
export function emaExact(prev: number, keep: number, x: number, rate: number): number {
  return f(f(prev * keep) + f(x * rate));
}

/**
 * The end of an Emo update at `'exact'` precision, the composed rounding: the cooled step
 * `f(u * factor)`, the decay `+ f(q * decay)` (skipped when 0), the learning rate, and the
 * new parameter: `f(p + f(u * -lr))`, or with a shadow blend (`q` the blended value)
 * `f(p + f(f(q - p) + f(u * -lr)))`.
 */
export function emoFinishExact(pi: number, q: number, blended: boolean, u: number, factor: number, decay: number, negLr: number): number {
  let v = f(u * factor);
  if (decay !== 0) v = f(v + f(q * decay));
  return blended ? f(pi + f(f(q - pi) + f(v * negLr))) : f(pi + f(v * negLr));
}
