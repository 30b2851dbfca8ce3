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
