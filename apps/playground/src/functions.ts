import * as tf from '@tensorflow/tfjs-core';

/** A 2-D test function: the same formula as plain numbers (for the contour) and as tf ops (for the gradients). */
export interface TestFunction {
  readonly id: string;
  readonly label: string;
  /** The plotted square: x and y in [min, max]. */
  readonly domain: readonly [min: number, max: number];
  /** Where every optimizer starts. */
  readonly start: readonly [x: number, y: number];
  /** The global minima, marked on the contour. */
  readonly minima: readonly (readonly [number, number])[];
  /** The value at (x, y), without noise. */
  value(x: number, y: number): number;
  /**
   * The loss an optimizer sees at `xy` ([2]) on step `step`: the value, plus for the noisy
   * bowl a linear noise term (so the gradient is noisy too) drawn from a seeded generator.
   */
  loss(xy: tf.Tensor, step: number): tf.Scalar;
}

const split = (xy: tf.Tensor): [tf.Tensor, tf.Tensor] => {
  const [x, y] = tf.unstack(xy);
  return [x!, y!];
};

/** A small deterministic Gaussian generator (mulberry32 + Box-Muller), seeded by the step. */
function gaussianPair(seed: number): [number, number] {
  let a = (seed * 0x9e3779b1 + 0x6d2b79f5) >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const u = Math.max(next(), 1e-12);
  const v = next();
  const r = Math.sqrt(-2 * Math.log(u));
  return [r * Math.cos(2 * Math.PI * v), r * Math.sin(2 * Math.PI * v)];
}

export const TEST_FUNCTIONS: readonly TestFunction[] = [
  {
    id: 'rosenbrock',
    label: 'Rosenbrock',
    domain: [-2, 2],
    start: [-1.5, 1.5],
    minima: [[1, 1]],
    value: (x, y) => (1 - x) ** 2 + 100 * (y - x * x) ** 2,
    loss: (xy) =>
      tf.tidy(() => {
        const [x, y] = split(xy);
        return tf.add(tf.square(tf.sub(1, x)), tf.mul(100, tf.square(tf.sub(y, tf.square(x))))) as tf.Scalar;
      }),
  },
  {
    id: 'rastrigin',
    label: 'Rastrigin',
    domain: [-4, 4],
    start: [-3.2, 3.6],
    minima: [[0, 0]],
    value: (x, y) => 20 + x * x - 10 * Math.cos(2 * Math.PI * x) + y * y - 10 * Math.cos(2 * Math.PI * y),
    loss: (xy) =>
      tf.tidy(() => tf.sum(tf.add(10, tf.sub(tf.square(xy), tf.mul(10, tf.cos(tf.mul(2 * Math.PI, xy)))))) as tf.Scalar),
  },
  {
    id: 'himmelblau',
    label: 'Himmelblau',
    domain: [-5, 5],
    start: [-0.5, -4.5],
    minima: [[3, 2], [-2.805118, 3.131312], [-3.77931, -3.283186], [3.584428, -1.848126]],
    value: (x, y) => (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2,
    loss: (xy) =>
      tf.tidy(() => {
        const [x, y] = split(xy);
        return tf.add(tf.square(tf.add(tf.square(x), tf.sub(y, 11))), tf.square(tf.add(x, tf.sub(tf.square(y), 7)))) as tf.Scalar;
      }),
  },
  {
    id: 'beale',
    label: 'Beale',
    domain: [-4.5, 4.5],
    start: [-1, 2],
    minima: [[3, 0.5]],
    value: (x, y) => (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y ** 3) ** 2,
    loss: (xy) =>
      tf.tidy(() => {
        const [x, y] = split(xy);
        // Powers of y by products: pow of a negative base is not portable on every backend.
        const y2 = tf.mul(y, y);
        const term = (c: number, yPower: tf.Tensor) => tf.square(tf.add(tf.sub(c, x), tf.mul(x, yPower)));
        return tf.addN([term(1.5, y), term(2.25, y2), term(2.625, tf.mul(y2, y))]) as tf.Scalar;
      }),
  },
  {
    id: 'bowl',
    label: 'Noisy bowl',
    domain: [-3, 3],
    start: [-2.5, 2],
    minima: [[0, 0]],
    value: (x, y) => x * x + 4 * y * y,
    // Each step adds n . (x, y) with n ~ N(0, 2^2 I): the loss and its gradient are noisy.
    loss: (xy, step) =>
      tf.tidy(() => {
        const [n1, n2] = gaussianPair(step + 1);
        const noise = tf.tensor1d([2 * n1, 2 * n2]);
        return tf.add(tf.sum(tf.mul(tf.tensor1d([1, 4]), tf.square(xy))), tf.sum(tf.mul(noise, xy))) as tf.Scalar;
      }),
  },
];

export function findFunction(id: string): TestFunction {
  const found = TEST_FUNCTIONS.find((f) => f.id === id);
  if (found === undefined) throw new Error(`Unknown test function '${id}'; one of ${TEST_FUNCTIONS.map((f) => f.id).join(', ')}.`);
  return found;
}
