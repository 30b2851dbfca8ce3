import * as tf from '@tensorflow/tfjs-core';
import { flattenState, type StateValue } from '@emosens/core';

/** A small seeded generator (mulberry32), so every run draws the same numbers. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random shape of the given rank, each dimension 1..maxDim. */
export function randomShape(rand: () => number, rank: number, maxDim = 6): number[] {
  return Array.from({ length: rank }, () => 1 + Math.floor(rand() * maxDim));
}

/**
 * Gradient values like the golden recordings: mostly ordinary values, some tiny ones
 * (1e-14, 3e-12: around the root filter's threshold), some exact zeros.
 */
export function randomGradValues(rand: () => number, size: number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const r = rand();
    const sign = rand() < 0.5 ? -1 : 1;
    out[i] = r < 0.1 ? sign * 1e-14 : r < 0.2 ? sign * 3e-12 : r < 0.25 ? 0 : sign * (rand() * 2) ** 3;
  }
  return out;
}

export function randomValues(rand: () => number, size: number): Float32Array {
  return Float32Array.from({ length: size }, () => rand() * 2 - 1);
}

/**
 * A loss sequence that moves the emotion scalar through all its regimes: a descent
 * with sudden jumps (shadow blending), then, from `calmFrom` of the run on, a flat loss
 * held at the long average (the emotion scalar decays to 0 and the calm signal fires).
 */
export function lossSchedule(rand: () => number, steps: number, calmFrom = 0.6): (t: number) => number {
  let long: number | undefined;
  return (t) => {
    const jump = t % 37 === 5 ? 3 * rand() : t % 53 === 11 ? -0.5 * rand() : 0;
    const loss = t > steps * calmFrom && long !== undefined ? long : 0.5 + 1.5 * Math.exp(-t / 40) + jump + 0.05 * rand();
    long = long === undefined ? loss : 0.01 * loss + 0.99 * long;
    return loss;
  };
}

/** The leaves of a state with their values (a number leaf, such as a schedule's count, as one value). */
export async function stateSnapshot(state: StateValue): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const leaf of flattenState(state)) {
    const v = leaf.value;
    out.set(leaf.path, typeof v === 'object' ? Array.from(await v.data()) : [Number(v)]);
  }
  return out;
}

/** The values of a tensor (async: works on every backend). */
export async function valuesOf(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

/** The float32 bits of each value, so that -0 and NaN payloads compare exactly. */
export function bits(values: ArrayLike<number>): number[] {
  return Array.from(new Uint32Array(Float32Array.from(values).buffer));
}

/** `|a - e| <= atol + rtol * |e|` (the golden tolerance), NaN equal to NaN. */
export function close(a: number, e: number, rtol = 1e-4, atol = 1e-6): boolean {
  if (Number.isNaN(a) && Number.isNaN(e)) return true;
  if (a === e) return true; // ±Infinity on both sides (an overflowed second moment)
  return Math.abs(a - e) <= atol + rtol * Math.abs(e);
}

/** The first index where two arrays differ beyond the tolerance, or -1. */
export function firstMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol?: number, atol?: number): number {
  if (actual.length !== expected.length) return 0;
  for (let i = 0; i < expected.length; i++) if (!close(actual[i]!, expected[i]!, rtol, atol)) return i;
  return -1;
}


