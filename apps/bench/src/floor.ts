import { timeSteps, type TimingOptions } from './timing.js';

/**
 * The memory floor of one optimizer step over `n` parameters: a JavaScript loop with the
 * access pattern of a fused Adam-type step and no arithmetic to speak of. It reads 4
 * float32 arrays (parameter, gradient, two moments) and writes 3 back (parameter and
 * moments), so it streams 7 arrays of `n` floats; no real step can be faster on the same
 * memory.
 */
export function streamSevenArrays(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array): void {
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    p[i] = p[i]! + gi;
    m[i] = m[i]! + gi;
    v[i] = v[i]! - gi;
  }
}

/** Measures the floor for `n` parameters (median ms of one pass). */
export async function measureFloor(n: number, timing: TimingOptions): Promise<number> {
  const arrays = Array.from({ length: 4 }, () => new Float32Array(n));
  arrays[1]!.fill(1e-7);
  const [p, g, m, v] = arrays as [Float32Array, Float32Array, Float32Array, Float32Array];
  return (await timeSteps(() => streamSevenArrays(p, g, m, v), timing)).median;
}
