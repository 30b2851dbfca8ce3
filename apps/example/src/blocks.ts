import * as tf from '@tensorflow/tfjs-core';
import {
  check,
  initPerParameter,
  stateless,
  updatePerParameter,
  type EmptyState,
  type GradientTransformation,
  type PerParameter,
} from '@emosens/core';

/** Momentum's state: one velocity per parameter, each shaped like its parameter. */
export type MomentumState = PerParameter<tf.Tensor>;

/**
 * Heavy-ball momentum: `v <- beta * v + u`, and the outgoing update is `v`.
 *
 * A small block written against the core contract, with per-parameter state.
 */
export function scaleByMomentum(options: { beta?: number } = {}): GradientTransformation<MomentumState> {
  const beta = check.number('scaleByMomentum', 'beta', options.beta ?? 0.9, { min: 0, max: 1, maxExclusive: true });
  return {
    name: 'scaleByMomentum',
    init: (params) => initPerParameter(params, (p) => tf.zerosLike(p)),
    update: (updates, state, params) =>
      updatePerParameter(updates, state, params, (u, v) => {
        const next = tf.add(tf.mul(v, beta), u);
        return { update: next, state: next };
      }),
  };
}

/** Multiplies updates by `-lr`: the one place where the descent sign flips. */
export function scaleByLearningRate(lr: number): GradientTransformation<EmptyState> {
  const rate = check.number('scaleByLearningRate', 'lr', lr, { min: 0, minExclusive: true });
  return stateless('scaleByLearningRate', (u) => tf.mul(u, -rate));
}
