import * as tf from '@tensorflow/tfjs-core';
import { flattenState, type StateValue } from '@emosens/core';

// Synchronous readers for the cpu backend's tests (the shared ones in @emosens/conformance are
// async, for every backend).

/** The leaves of a state with their values (a number leaf, such as a schedule's count, as one value). */
export function stateSnapshot(state: StateValue): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const leaf of flattenState(state)) {
    const v = leaf.value;
    out.set(leaf.path, typeof v === 'object' ? Array.from(v.dataSync()) : [Number(v)]);
  }
  return out;
}

export function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}
