import * as tf from '@tensorflow/tfjs-core';
import './gradients.js';
import { IMAGE_SIZE, NUM_CLASSES, type Dataset } from './data.js';
import { createRandom, deriveSeed } from './random.js';

/** Width of the hidden layer of the 784-128-10 MLP. */
export const HIDDEN_UNITS = 128;

/** Initial values of the MLP's parameters, as plain arrays (backend independent). */
export interface InitialWeights {
  /** [784, 128] */
  w1: Float32Array;
  /** [128] */
  b1: Float32Array;
  /** [128, 10] */
  w2: Float32Array;
  /** [10] */
  b2: Float32Array;
}

const SHAPES = {
  w1: [IMAGE_SIZE, HIDDEN_UNITS],
  b1: [HIDDEN_UNITS],
  w2: [HIDDEN_UNITS, NUM_CLASSES],
  b2: [NUM_CLASSES],
} as const satisfies Record<keyof InitialWeights, readonly number[]>;

/**
 * Draws the initial weights once from `seed`, with PyTorch's `nn.Linear` default:
 * weight and bias uniform in `[-1/sqrt(fanIn), 1/sqrt(fanIn)]`. Every optimizer then
 * starts from copies of these exact values.
 */
export function createInitialWeights(seed: number): InitialWeights {
  const random = createRandom(deriveSeed(seed, 'weights'));
  const uniform = (n: number, fanIn: number): Float32Array => {
    const bound = 1 / Math.sqrt(fanIn);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (2 * random.next() - 1) * bound;
    return out;
  };
  return {
    w1: uniform(IMAGE_SIZE * HIDDEN_UNITS, IMAGE_SIZE),
    b1: uniform(HIDDEN_UNITS, IMAGE_SIZE),
    w2: uniform(HIDDEN_UNITS * NUM_CLASSES, HIDDEN_UNITS),
    b2: uniform(NUM_CLASSES, HIDDEN_UNITS),
  };
}

/** The MLP's trainable variables. */
export interface Mlp {
  w1: tf.Variable;
  b1: tf.Variable;
  w2: tf.Variable;
  b2: tf.Variable;
  /** The variables in a fixed order, for `tf.variableGrads(f, varList)`. */
  variables: tf.Variable[];
  dispose(): void;
}

/**
 * Creates the MLP's variables from `weights`. Variable names are registered globally
 * by tfjs, so each live model needs its own `prefix`; `dispose()` releases them.
 */
export function createMlp(weights: InitialWeights, prefix: string): Mlp {
  const make = (key: keyof InitialWeights): tf.Variable =>
    tf.tidy(() => tf.variable(tf.tensor(weights[key], [...SHAPES[key]], 'float32'), true, `${prefix}/${key}`));
  const w1 = make('w1');
  const b1 = make('b1');
  const w2 = make('w2');
  const b2 = make('b2');
  const variables = [w1, b1, w2, b2];
  return {
    w1,
    b1,
    w2,
    b2,
    variables,
    dispose() {
      for (const v of variables) v.dispose();
    },
  };
}

/** Logits [batch, 10] of `x` [batch, 784]: `relu(x W1 + b1) W2 + b2`. */
export function forward(model: Mlp, x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const hidden = tf.relu(tf.add(tf.matMul(x, model.w1), model.b1));
    return tf.add(tf.matMul(hidden, model.w2), model.b2) as tf.Tensor2D;
  });
}

/** Mean softmax cross-entropy of the logits against one-hot `labels` [batch, 10]. */
export function crossEntropy(model: Mlp, x: tf.Tensor2D, labels: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.losses.softmaxCrossEntropy(labels, forward(model, x)) as tf.Scalar);
}

/** Builds the input tensor and one-hot labels for the listed examples. */
export function makeBatch(data: Dataset, indices: ArrayLike<number>): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const n = indices.length;
  const images = new Float32Array(n * IMAGE_SIZE);
  const oneHot = new Float32Array(n * NUM_CLASSES);
  for (let i = 0; i < n; i++) {
    const src = indices[i]!;
    images.set(data.images.subarray(src * IMAGE_SIZE, (src + 1) * IMAGE_SIZE), i * IMAGE_SIZE);
    oneHot[i * NUM_CLASSES + data.labels[src]!] = 1;
  }
  return { x: tf.tensor2d(images, [n, IMAGE_SIZE]), y: tf.tensor2d(oneHot, [n, NUM_CLASSES]) };
}

/** Fraction of `data` whose arg-max logit equals the label, evaluated in chunks. */
export async function accuracy(model: Mlp, data: Dataset, chunkSize = 500): Promise<number> {
  let correct = 0;
  for (let start = 0; start < data.count; start += chunkSize) {
    const end = Math.min(start + chunkSize, data.count);
    const predicted = tf.tidy(() => {
      const x = tf.tensor2d(data.images.subarray(start * IMAGE_SIZE, end * IMAGE_SIZE), [end - start, IMAGE_SIZE]);
      return tf.argMax(forward(model, x), 1);
    });
    const values = await predicted.data();
    predicted.dispose();
    for (let i = 0; i < values.length; i++) {
      if (values[i] === data.labels[start + i]) correct++;
    }
  }
  return correct / data.count;
}
