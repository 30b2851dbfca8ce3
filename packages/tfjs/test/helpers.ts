import * as tf from '@tensorflow/tfjs-core';
import { vi } from 'vitest';
import {
  flattenState,
  initPerParameter,
  isTensor,
  updatePerParameter,
  type GradientTransformation,
  type PerParameter,
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
