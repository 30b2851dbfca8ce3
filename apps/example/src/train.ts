import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node build ships no gradient functions; tfjs-layers registers all of them
// (into tfjs-core's global registry) when it loads. Without this, tf.variableGrads throws
// "gradient function not found".
import '@tensorflow/tfjs-layers';
import { chain, statefulOptimizer, type GradientTransformation, type StateValue, type Updates } from '@emosens/core';
import { scaleByLearningRate, scaleByMomentum } from './blocks.js';
import type { IrisData } from './iris.js';

/** The optimizer of the example: momentum, then the learning rate (descent sign included). */
export function makeOptimizer(options: { lr?: number; beta?: number } = {}) {
  return chain({
    momentum: scaleByMomentum({ beta: options.beta ?? 0.9 }),
    learningRate: scaleByLearningRate(options.lr ?? 0.05),
  });
}

export interface TrainOptions {
  /** How many full-batch steps to take. */
  readonly steps: number;
  /** Called after each step with the step number (1-based) and that step's loss. */
  readonly onStep?: (step: number, loss: number) => void;
}

export interface TrainResult {
  /** The loss before each step, in order (`losses[0]` is the loss of the initial weights). */
  readonly losses: readonly number[];
  /** The fraction of training samples classified correctly after the last step. */
  readonly accuracy: number;
  /** `tf.memory().numTensors` after each step (constant when nothing leaks). */
  readonly tensorCounts: readonly number[];
}

/** Softmax cross-entropy of the linear classifier `softmax(x W + b)`. */
function crossEntropy(data: IrisData, w: tf.Tensor, b: tf.Tensor): tf.Scalar {
  const logits = tf.add(tf.matMul(data.features, w), b);
  return tf.losses.softmaxCrossEntropy(data.labels, logits) as tf.Scalar;
}

/**
 * Trains a softmax-regression classifier on `data` with `transform`, full batch.
 *
 * Each step: the loss and gradients come from `tf.variableGrads`, then
 * `optimizer.step(grads, { loss })` runs the transform and updates the weights in place.
 */
export function trainSoftmaxRegression<S extends StateValue>(
  data: IrisData,
  transform: GradientTransformation<S>,
  options: TrainOptions,
): TrainResult {
  const featureCount = data.features.shape[1];
  const classCount = data.labels.shape[1];
  const initial = { w: tf.zeros([featureCount, classCount]), b: tf.zeros([classCount]) };
  // The optimizer copies plain tensors into variables it owns; the initial values are ours to release.
  const optimizer = statefulOptimizer(transform, initial);
  tf.dispose(Object.values(initial));
  const { w, b } = optimizer.params as { w: tf.Variable; b: tf.Variable };
  const losses: number[] = [];
  const tensorCounts: number[] = [];
  try {
    for (let step = 1; step <= options.steps; step++) {
      const { value, grads } = tf.variableGrads(() => crossEntropy(data, w, b), [w, b]);
      // variableGrads keys gradients by variable name; the optimizer wants parameter names.
      const named: Updates = byParameterName(optimizer.params, grads);
      try {
        optimizer.step(named, { loss: value });
        const loss = value.dataSync()[0]!;
        losses.push(loss);
        options.onStep?.(step, loss);
      } finally {
        tf.dispose([value, ...Object.values(grads)]);
      }
      tensorCounts.push(tf.memory().numTensors);
    }
    const accuracy = tf.tidy(() => {
      const predicted = tf.argMax(tf.add(tf.matMul(data.features, w), b), 1);
      return tf.mean(tf.cast(tf.equal(predicted, data.classes), 'float32')).dataSync()[0]!;
    });
    return { losses, accuracy, tensorCounts };
  } finally {
    optimizer.dispose();
  }
}

/** Re-keys a gradient map from variable names to the parameter names of `params`. */
function byParameterName(params: Readonly<Record<string, tf.Variable>>, grads: tf.NamedTensorMap): Updates {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(params)) {
    const g = grads[v.name];
    if (g !== undefined) out[name] = g;
  }
  return out;
}
