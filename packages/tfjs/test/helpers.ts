import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { vi } from 'vitest';
import {
  flattenState,
  fx,
  initPerParameter,
  isTensor,
  updatePerParameter,
  type GradientTransformation,
  type LeafRef,
  type PerParameter,
  type Sym,
} from '@emosens/core';

/** State of {@link momentumSgd}: a plain-number step count and a tensor moment per parameter. */
export type MomentumState = { readonly count: number; readonly m: PerParameter<tf.Tensor> };

/**
 * Momentum SGD, the test chain: `m = beta * m + g`, `u = -lr * m`. Keeps a JavaScript
 * step count, to observe how plain-number state behaves.
 */
export function momentumSgd(lr = 0.1, beta = 0.5): GradientTransformation<MomentumState> {
  return {
    name: 'momentumSgd',
    init: (params) => ({ count: 0, m: initPerParameter(params, (p) => tf.zerosLike(p)) }),
    update(updates, state, params) {
      const r = updatePerParameter(updates, state.m, params, (g, m) => {
        const next = tf.add(tf.mul(m, beta), g);
        return { update: tf.mul(next, -lr), state: next };
      });
      return { updates: r.updates, state: { count: state.count + 1, m: r.state } };
    },
    // the same step over symbolic values, so that a fusion target can run it
    fusion: {
      update(updates, state) {
        const s = state as { count: number; m: Record<string, LeafRef | Sym> };
        const m = { ...s.m };
        const out: Record<string, Sym> = {};
        for (const [key, g] of Object.entries(updates)) {
          const next = fx.add(fx.mul(fx.elem(s.m[key] as LeafRef, key), beta), g);
          m[key] = next;
          out[key] = fx.mul(next, -lr);
        }
        return { updates: out, state: { count: s.count + 1, m } };
      },
    },
  };
}

/** A block that needs the loss and keeps a copy of the last one (to see what reached the chain). */
export function recordLoss(): GradientTransformation<{ readonly last: tf.Scalar }> {
  return {
    name: 'recordLoss',
    init: () => ({ last: tf.scalar(Number.NaN) }),
    update: (updates, _state, _params, context) => ({ updates, state: { last: tf.clone(context.requireLoss('recordLoss')) } }),
  };
}

/** The quadratic bowl `sum((w - target)^2)` around a fixed target. */
export function bowl(w: tf.Variable, target: readonly number[] = [1, -2, 0.5]): () => tf.Scalar {
  return () => tf.sum(tf.square(tf.sub(w, tf.tensor(target, w.shape)))) as tf.Scalar;
}

/** Values of a tensor as a Float32Array copy (compare with toEqual for bit-exact checks). */
export function bits(t: tf.Tensor): Float32Array {
  return new Float32Array(t.dataSync());
}

/**
 * A tensor's dtype, shape and exact bit pattern (float32 values as their 32-bit
 * patterns, so -0 differs from 0 and NaN payloads count); other leaves as they are.
 * Compare with toEqual for a bit-for-bit check.
 */
export function exactBits(value: unknown): unknown {
  if (!isTensor(value)) return value;
  const data = value.dataSync();
  const raw = data instanceof Float32Array ? new Uint32Array(data.buffer, data.byteOffset, data.length) : data;
  return { dtype: value.dtype, shape: value.shape, bits: Array.from(raw as ArrayLike<number | string>) };
}

/**
 * Every leaf of a state tree at its `flattenState` path, as {@link exactBits}. `rename`
 * replaces path segments (variable names), to compare the states of two optimizers that
 * train different variables.
 */
export function stateBits(state: unknown, rename: Readonly<Record<string, string>> = {}): Record<string, unknown> {
  return Object.fromEntries(
    flattenState(state).map(({ path, value }) => [
      path
        .split('/')
        .map((s) => rename[s] ?? s)
        .join('/'),
      exactBits(value),
    ]),
  );
}

/**
 * Counts the active backend's `readSync` and `read` calls while `fn` runs; when `stacks`
 * is given, the call stack of each read is pushed to it.
 */
export async function countReads(fn: () => void | Promise<void>, stacks?: string[]): Promise<number> {
  const backend = tf.backend();
  const limit = Error.stackTraceLimit;
  if (stacks) Error.stackTraceLimit = 60;
  const originalReadSync = backend.readSync.bind(backend);
  const originalRead = backend.read.bind(backend);
  const readSync = vi.spyOn(backend, 'readSync').mockImplementation((dataId) => {
    stacks?.push(new Error().stack ?? '');
    return originalReadSync(dataId);
  });
  const read = vi.spyOn(backend, 'read').mockImplementation((dataId) => {
    stacks?.push(new Error().stack ?? '');
    return originalRead(dataId);
  });
  try {
    await fn();
    return readSync.mock.calls.length + read.mock.calls.length;
  } finally {
    Error.stackTraceLimit = limit;
    readSync.mockRestore();
    read.mockRestore();
  }
}

/**
 * A small least-squares problem with a matrix and a bias (so EmoAiry uses its factored
 * moments): `mean((x w + b - y)^2)`. `infiniteLoss` is infinite with finite gradients (the
 * derivative of the added constant is 0), so only a loss check can catch it; `nanLoss`
 * makes the loss and the gradients NaN.
 */
export function leastSquares(init?: { w: tf.Tensor; b: tf.Tensor }) {
  const w = tf.variable(init?.w ?? tf.tensor2d([0.5, -0.3, 0.2, 0.1, -0.4, 0.6], [3, 2]));
  const b = tf.variable(init?.b ?? tf.tensor1d([0.1, -0.1]));
  const x = tf.tensor2d([1, 2, 3, -1, 0.5, 2, 0, 1, -2, 1, 1, 1], [4, 3]);
  const y = tf.tensor2d([1, 0, 0, 1, 1, 1, -1, 2], [4, 2]);
  const loss = () => tf.tidy(() => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, w), b), y))) as tf.Scalar);
  const infiniteLoss = () => tf.tidy(() => tf.add(loss(), tf.scalar(Number.POSITIVE_INFINITY)) as tf.Scalar);
  const nanLoss = () => tf.tidy(() => tf.mul(loss(), tf.scalar(Number.NaN)) as tf.Scalar);
  const release = () => tf.dispose([w, b, x, y]);
  return { w, b, loss, infiniteLoss, nanLoss, release };
}

/**
 * 64 deterministic samples of y = sin(2 x0) + 0.5 x1^2 on a grid over [-1, 1]^2, as flat
 * arrays; `nanBatch` puts a NaN target into that batch of 16.
 */
export function gridSamples(nanBatch?: number): { xs: number[]; ys: number[] } {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < 8; i++) {
    for (let j = 0; j < 8; j++) {
      const a = -1 + (2 * i) / 7;
      const b = -1 + (2 * j) / 7;
      xs.push(a, b);
      ys.push(Math.sin(2 * a) + 0.5 * b * b);
    }
  }
  if (nanBatch !== undefined) ys[nanBatch * 16 + 3] = Number.NaN;
  return { xs, ys };
}

/** A 2-16-1 tanh network with seeded initial weights. */
export function buildModel(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [2], units: 16, activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
      tfl.layers.dense({ units: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
}

/** {@link gridSamples} as tensors: x of shape [64, 2], y of shape [64, 1]. */
export function gridTensors(): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const { xs, ys } = gridSamples();
  return { x: tf.tensor2d(xs, [64, 2]), y: tf.tensor2d(ys, [64, 1]) };
}
