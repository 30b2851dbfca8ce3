import * as tf from '@tensorflow/tfjs-core';
import { statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';

/** A small test problem: initial parameters and a scalar loss of them. */
export interface Problem {
  readonly name: string;
  readonly init: () => Record<string, tf.Tensor>;
  readonly loss: (params: Record<string, tf.Tensor>) => tf.Scalar;
}

/**
 * f(x) = sum_i a_i x_i^2 / sum_i a_i with a_i = 1..10 (condition number 10), from
 * x = (1, -1, 1, ...), where f = 1; minimum 0 at x = 0.
 */
export const quadraticBowl: Problem = {
  name: 'quadratic bowl',
  init: () => ({ x: tf.tensor([1, -1, 1, -1, 1, -1, 1, -1, 1, -1]) }),
  loss: ({ x }) => tf.div(tf.sum(tf.mul(tf.range(1, 11), tf.square(x!))), 55) as tf.Scalar,
};

/** Rosenbrock f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1.2, 1); minimum 0 at (1, 1). */
export const rosenbrock: Problem = {
  name: 'Rosenbrock',
  init: () => ({ xy: tf.tensor([-1.2, 1]) }),
  loss: ({ xy }) => {
    const x = tf.slice(xy!, [0], [1]);
    const y = tf.slice(xy!, [1], [1]);
    return tf.sum(tf.add(tf.square(tf.sub(1, x)), tf.mul(100, tf.square(tf.sub(y, tf.square(x)))))) as tf.Scalar;
  },
};

/** Runs `steps` steps and returns the loss after each (read back here, outside the step). */
export function train(problem: Problem, transform: GradientTransformation<StateValue>, steps: number): number[] {
  const opt = statefulOptimizer(transform, problem.init());
  const losses: number[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      const { value, grads } = tf.variableGrads(() => problem.loss(opt.params), Object.values(opt.params));
      const named: Record<string, tf.Tensor> = {};
      for (const [name, v] of Object.entries(opt.params)) named[name] = grads[v.name]!;
      opt.step(named, { loss: value });
      losses.push(value.dataSync()[0]!);
      tf.dispose([value, ...Object.values(grads)]);
    }
    const final = tf.tidy(() => problem.loss(opt.params));
    losses.push(final.dataSync()[0]!);
    final.dispose();
  } finally {
    opt.dispose();
  }
  return losses;
}

/**
 * A rank-2 problem, so that EmoAiry's factored (row/column) second moments are exercised:
 * f(W) = sum_ij r_i c_j (W_ij - T_ij)^2 / sum_ij r_i c_j for W of shape [4, 6], row weights
 * r = 1..4 and column weights c = 1..6 (condition number 24), T_ij = sin(i + 2 j) / 2, from
 * W = 0, where f is about 0.125; minimum 0 at W = T.
 */
export const matrixBowl: Problem = {
  name: 'matrix bowl',
  init: () => ({ w: tf.zeros([4, 6]) }),
  loss: ({ w }) =>
    tf.tidy(() => {
      const weights = tf.outerProduct(tf.range(1, 5), tf.range(1, 7));
      const target = tf.tensor2d(Array.from({ length: 24 }, (_, k) => Math.sin(Math.floor(k / 6) + 2 * (k % 6)) / 2), [4, 6]);
      return tf.div(tf.sum(tf.mul(weights, tf.square(tf.sub(w!, target)))), tf.sum(weights)) as tf.Scalar;
    }),
};
