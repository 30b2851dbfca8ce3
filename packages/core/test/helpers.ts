import * as tf from '@tensorflow/tfjs-core';
import type { GradientTransformation, StateValue } from '../src/index.js';
import { initPerParameter, updatePerParameter } from '../src/index.js';

/** Element values of a tensor as a plain array. */
export function values(t: tf.Tensor | undefined): number[] {
  if (t === undefined) throw new Error('expected a tensor');
  return Array.from(t.dataSync());
}

/** A block that counts its steps and adds `amount` to every update (to observe order). */
export function addConstant(amount: number): GradientTransformation<{ count: number }> {
  return {
    name: `addConstant(${amount})`,
    init: () => ({ count: 0 }),
    update: (updates, state) => ({
      updates: Object.fromEntries(Object.entries(updates).map(([k, u]) => [k, tf.add(u, amount)])),
      state: { count: state.count + 1 },
    }),
  };
}

/** A block that multiplies every update by `factor`. */
export function multiplyBy(factor: number): GradientTransformation<{ count: number }> {
  return {
    name: `multiplyBy(${factor})`,
    init: () => ({ count: 0 }),
    update: (updates, state) => ({
      updates: Object.fromEntries(Object.entries(updates).map(([k, u]) => [k, tf.mul(u, factor)])),
      state: { count: state.count + 1 },
    }),
  };
}

/** A momentum block with per-parameter tensor state (to exercise state replacement). */
export function momentum(beta: number): GradientTransformation<Readonly<Record<string, tf.Tensor>>> {
  return {
    name: 'momentum',
    init: (params) => initPerParameter(params, (p) => tf.zerosLike(p)),
    update: (updates, state, params) =>
      updatePerParameter(updates, state, params, (u, m) => {
        const next = tf.add(tf.mul(m, beta), u);
        return { update: next, state: next };
      }),
  };
}

export type AnyState = StateValue;
