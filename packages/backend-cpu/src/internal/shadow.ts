import { EmosensError } from '@emosens/core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { Tensor } from '@tensorflow/tfjs-core';
import { readValues, type StepStorage } from './cpu-storage.js';
import { f } from './float32.js';

/** How far the shadow follows the blended weights (`withShadow`'s default `follow`). */
export const SHADOW_FOLLOW = f(0.05);

const HIGH = f(0.6);
const HIGH_SPAN = f(0.4);
const MID = f(0.1);
const MID_SPAN = f(0.5);

/** `shadowRatio` of `@emosens/shadow` in float32, as its ops round. */
export function shadowRatio(s: number): number {
  const a = Math.abs(s);
  if (a > HIGH) return f(f(f(f(a - HIGH) / HIGH_SPAN) * HIGH_SPAN) + HIGH);
  if (a > MID) return f(f(f(f(a - MID) / MID_SPAN) * MID_SPAN) + MID);
  return 0;
}

/** One parameter's shadow slot (`{ value, taken }`, as the shared plan finds it). */
export interface ShadowSlot {
  readonly value: Tensor;
  readonly taken: Tensor;
}

/** What the element loop does with a parameter's shadow this step. */
export interface ShadowBlend {
  /** The shadow values, updated in the loop: `shadow += 0.05 * (blended - shadow)`. */
  readonly shadow: Float32Array;
  /** The blend weight (the ratio) and `f(1 - weight)`: `blended = f(f(p * keep) + f(shadow * weight))`. */
  readonly weight: number;
  readonly keep: number;
}

/**
 * The `taken` flag of a slot (0 or 1), read from cpu memory before anything is written;
 * any other value is refused with `INVALID_STATE`.
 */
export function readTaken(backend: MathBackendCPU, slot: ShadowSlot, kernel: string, param: string): 0 | 1 {
  const v = readValues(backend, slot.taken)[0];
  if (v !== 0 && v !== 1) {
    throw new EmosensError('INVALID_STATE', `${kernel}: the shadow's 'taken' flag of '${param}' must be 0 or 1 (got ${v}).`);
  }
  return v;
}

/**
 * `withShadow`'s branches for one parameter, decided in plain JS from the step's
 * ratio and the slot's `taken` flag (read before the step):
 *
 * - ratio 0: nothing changes;
 * - ratio > 0, not taken: `shadow = p` (a copy, no blend), `taken = 1`;
 * - ratio > 0, taken: the element loop blends `p` toward the shadow and moves the
 *   shadow (returned as a {@link ShadowBlend}).
 */
export function stepShadowSlot(
  storage: StepStorage,
  slot: ShadowSlot,
  taken: 0 | 1,
  params: Float32Array,
  ratio: number,
): ShadowBlend | undefined {
  if (!(ratio > 0)) return undefined;
  const shadow = storage.values(storage.writable(slot.value));
  if (taken === 0) {
    shadow.set(params);
    storage.values(storage.writable(slot.taken))[0] = 1;
    return undefined;
  }
  return { shadow, weight: ratio, keep: f(1 - ratio) };
}

/**
 * Entry `i` of a shadow blend at `'exact'` precision: returns the blended parameter
 * `q = f(f(p * keep) + f(s * weight))` and moves the shadow to `f(s + f(f(q - s) * 0.05))`.
 */
export function blendExact(blend: ShadowBlend, i: number, pi: number): number {
  const si = blend.shadow[i]!;
  const q = f(f(pi * blend.keep) + f(si * blend.weight));
  blend.shadow[i] = f(si + f(f(q - si) * SHADOW_FOLLOW));
  return q;
}

/** The same at `'fast'` precision (float64, rounded when the shadow is stored). */
export function blendFast(shadow: Float32Array, i: number, pi: number, keep: number, weight: number): number {
  const si = shadow[i]!;
  const q = pi * keep + si * weight;
  shadow[i] = si + (q - si) * SHADOW_FOLLOW;
  return q;
}
