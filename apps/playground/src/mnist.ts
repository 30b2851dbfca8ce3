import type { StepPath } from '@emosens/core';
import type { TransformOptimizer } from '@emosens/tfjs';
import * as tf from '@tensorflow/tfjs-core';

const PIXELS = 784;
const HIDDEN = 64;
const CLASSES = 10;
/** Digits trained on; the rest of the shipped 1,500 are held out. */
const TRAIN_COUNT = 1200;

/** The MNIST subset shipped with the page (scripts/prepare-assets.mjs writes it). */
export interface Digits {
  /** [count * 784] pixels in [0, 1]. */
  images: Float32Array;
  /** [count] labels 0-9. */
  labels: Uint8Array;
  count: number;
}

let digits: Promise<Digits> | undefined;

/** Loads data/mnist.bin (relative to the page): 784 bytes per image, then one byte per label. */
export function loadDigits(): Promise<Digits> {
  digits ??= (async () => {
    const response = await fetch(new URL('data/mnist.bin', document.baseURI));
    if (!response.ok) throw new Error(`could not load data/mnist.bin (${response.status})`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const count = bytes.length / (PIXELS + 1);
    if (!Number.isInteger(count)) throw new Error('data/mnist.bin has an unexpected size');
    const images = new Float32Array(count * PIXELS);
    for (let i = 0; i < count * PIXELS; i++) images[i] = bytes[i]! / 255;
    return { images, labels: bytes.slice(count * PIXELS), count };
  })();
  return digits;
}

/** A seeded generator (mulberry32): every optimizer starts from the same weights and sees the same batches. */
function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Glorot-uniform weights from the seeded generator. */
function glorot(random: () => number, fanIn: number, fanOut: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const values = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < values.length; i++) values[i] = (random() * 2 - 1) * limit;
  return values;
}

export interface TrainStep {
  step: number;
  loss: number;
  emotion: number | null;
  stepSize: number;
}

export interface TrainResult {
  losses: number[];
  emotion: (number | null)[];
  stepSize: number[];
  paths: StepPath[];
  accuracy: number;
  msPerStep: number;
}

let trainCount = 0;

/**
 * Trains the 784-64-10 network with `optimizer` for `steps` mini-batches of `batchSize`
 * (seeded order), reading the loss, the emotion and the step size back each step, and
 * returns them with the held-out accuracy at the end.
 */
export async function trainMnist(
  optimizer: TransformOptimizer,
  options: { steps: number; batchSize: number; lr: number },
  hooks: { onStep?: (step: TrainStep) => void; shouldStop?: () => boolean } = {},
): Promise<TrainResult> {
  const data = await loadDigits();
  const run = ++trainCount;
  const random = createRandom(42);
  const w1 = tf.variable(tf.tensor2d(glorot(random, PIXELS, HIDDEN), [PIXELS, HIDDEN]), true, `mnist${run}_w1`);
  const b1 = tf.variable(tf.zeros([HIDDEN]), true, `mnist${run}_b1`);
  const w2 = tf.variable(tf.tensor2d(glorot(random, HIDDEN, CLASSES), [HIDDEN, CLASSES]), true, `mnist${run}_w2`);
  const b2 = tf.variable(tf.zeros([CLASSES]), true, `mnist${run}_b2`);
  const logits = (xs: tf.Tensor2D): tf.Tensor2D => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(xs, w1), b1)), w2), b2);

  const batchRandom = createRandom(7);
  const batch = (): { xs: tf.Tensor2D; ys: tf.Tensor2D } => {
    const images = new Float32Array(options.batchSize * PIXELS);
    const labels = new Int32Array(options.batchSize);
    for (let i = 0; i < options.batchSize; i++) {
      const k = Math.floor(batchRandom() * TRAIN_COUNT);
      images.set(data.images.subarray(k * PIXELS, (k + 1) * PIXELS), i * PIXELS);
      labels[i] = data.labels[k]!;
    }
    return { xs: tf.tensor2d(images, [options.batchSize, PIXELS]), ys: tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES) as tf.Tensor2D };
  };

  const result: TrainResult = { losses: [], emotion: [], stepSize: [], paths: [], accuracy: NaN, msPerStep: NaN };
  const started = performance.now();
  try {
    for (let step = 0; step < options.steps; step++) {
      if (hooks.shouldStop?.()) break;
      const { xs, ys } = batch();
      // The loss goes to the optimizer as a number, read asynchronously (see race.ts).
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(ys, logits(xs)) as tf.Scalar, [w1, b1, w2, b2]);
      tf.dispose([xs, ys]);
      const loss = (await value.data())[0]!;
      optimizer.setLoss(loss);
      optimizer.applyGradients(grads);
      tf.dispose([value, ...Object.values(grads)]);
      const emotionSignal = optimizer.signals.emotion;
      const stepSizeSignal = optimizer.signals.stepSize;
      const emotion = emotionSignal === undefined ? null : ((await emotionSignal.data())[0] ?? null);
      const stepSize = stepSizeSignal === undefined ? options.lr : ((await stepSizeSignal.data())[0] ?? options.lr);
      result.losses.push(loss);
      result.emotion.push(emotion);
      result.stepSize.push(stepSize);
      if (optimizer.path !== undefined) result.paths.push(optimizer.path);
      hooks.onStep?.({ step: step + 1, loss, emotion, stepSize });
    }
    result.msPerStep = (performance.now() - started) / Math.max(1, result.losses.length);
    // Held-out accuracy on the digits after the training ones.
    const heldOut = data.count - TRAIN_COUNT;
    const xs = tf.tensor2d(data.images.subarray(TRAIN_COUNT * PIXELS), [heldOut, PIXELS]);
    const predicted = tf.tidy(() => tf.argMax(logits(xs), 1));
    const guesses = await predicted.data();
    tf.dispose([xs, predicted]);
    let correct = 0;
    for (let i = 0; i < heldOut; i++) if (guesses[i] === data.labels[TRAIN_COUNT + i]) correct++;
    result.accuracy = correct / heldOut;
  } finally {
    optimizer.dispose();
    tf.dispose([w1, b1, w2, b2]);
  }
  return result;
}
