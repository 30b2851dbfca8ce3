import type { StateValue } from '@emosens/core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { readValues, type StepStorage } from './cpu-storage.js';
import { f } from './float32.js';
import type { StateReader } from './state-access.js';

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

/** One parameter's shadow slot (`{ value, taken }`). */
export interface ShadowSlot {
  readonly value: Tensor;
  readonly taken: Scalar;
}

/** A slot as read before the step: its tensors and the `taken` flag's value. */
export interface ReadShadowSlot extends ShadowSlot {
  readonly takenValue: 0 | 1;
}

/** What the element loop does with a parameter's shadow this step. */
export interface ShadowBlend {
  /** The shadow values, updated in the loop: `shadow += 0.05 * (blended - shadow)`. */
  readonly shadow: Float32Array;
  /** The blend weight (the ratio) and `f(1 - weight)`: `blended = f(f(p * keep) + f(shadow * weight))`. */
  readonly weight: number;
  readonly keep: number;
}

/** Reads and checks one slot, including its `taken` flag (0 or 1, read from cpu memory). */
export function readShadowSlot(
  backend: MathBackendCPU,
  value: StateValue | undefined,
  path: string,
  read: StateReader,
  shape: readonly number[],
): ReadShadowSlot {
  const o = read.object(value, path);
  const taken = read.tensor(o.taken, `${path}/taken`, []) as Scalar;
  const takenValue = readValues(backend, taken)[0];
  if (takenValue !== 0 && takenValue !== 1) read.fail(`${path}/taken`, `0 or 1 (got ${takenValue})`);
  return { value: read.tensor(o.value, `${path}/value`, shape), taken, takenValue };
}

/**
 * `withShadow`'s branches for one parameter, decided in plain JS from the step's
 * ratio and the slot's `taken` flag (read from cpu memory):
 *
 * - ratio 0: nothing changes;
 * - ratio > 0, not taken: `shadow = p` (a copy, no blend), `taken = 1`;
 * - ratio > 0, taken: the element loop blends `p` toward the shadow and moves the
 *   shadow (returned as a {@link ShadowBlend}).
 */
export function stepShadowSlot(
  storage: StepStorage,
  slot: ReadShadowSlot,
  params: Float32Array,
  ratio: number,
): { slot: ShadowSlot; blend: ShadowBlend | undefined } {
  if (!(ratio > 0)) return { slot: { value: slot.value, taken: slot.taken }, blend: undefined };
  const value = storage.writable(slot.value);
  const shadow = storage.values(value);
  if (slot.takenValue === 0) {
    shadow.set(params);
    const nextTaken = storage.writable(slot.taken);
    storage.values(nextTaken)[0] = 1;
    return { slot: { value, taken: nextTaken }, blend: undefined };
  }
  return { slot: { value, taken: slot.taken }, blend: { shadow, weight: ratio, keep: f(1 - ratio) } };
}
