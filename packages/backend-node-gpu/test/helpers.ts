import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { chain, flattenState, isTensor, registerFusionTarget, type GradientTransformation, type StateValue } from '@emosens/core';
import type {} from '@emosens/emotion';
import { addDecayedWeights, cautious, scaleByLearningRate } from '@emosens/modifiers';
import { scaleByAdam } from '@emosens/moments';
import { adam, adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { afterAll, beforeAll, expect, vi } from 'vitest';
import { createTfOpsTarget } from '../src/index.js';

// Node cannot start tfjs-wasm's blob-URL workers: use the single-threaded build.
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);

/** The backends the target is verified on here (tfjs-node-gpu cannot be installed). */
export const BACKENDS = ['cpu', 'wasm'] as const;

/**
 * Registers the tf-ops target on `backend` and makes that backend active for the enclosing
 * `describe`, counting the target's runs (so a test can assert that every step ran fused).
 */
export function useTfOpsTarget(backend: string): { readonly runs: number } {
  const counter = { runs: 0 };
  let unregister = () => {};
  let previous = 'cpu';
  beforeAll(async () => {
    const target = createTfOpsTarget();
    unregister = registerFusionTarget(backend, { ...target, run: (step, options) => (counter.runs++, target.run(step, options)) });
    previous = tf.getBackend();
    expect(await tf.setBackend(backend)).toBe(true);
  });
  afterAll(async () => {
    unregister();
    await tf.setBackend(previous);
  });
  return counter;
}

/**
 * The transforms the target is checked on: the five reference optimizers, their shadow
 * variants, and chains of blocks that no hand-written kernel ever covered.
 */
export const TRANSFORMS: Record<string, () => GradientTransformation<StateValue>> = {
  emoSens: () => emoSens({ lr: 0.01 }),
  'emoSens (shadow)': () => emoSens({ lr: 0.01, useShadow: true }),
  emoAiry: () => emoAiry({ lr: 0.01 }),
  'emoAiry (shadow)': () => emoAiry({ lr: 0.01, useShadow: true }),
  emoCats: () => emoCats({ lr: 0.001 }),
  'emoCats (shadow, decoupled)': () => emoCats({ lr: 0.001, useShadow: true, decoupledWeightDecay: true }),
  adam: () => adam({ lr: 0.01 }),
  adamw: () => adamw({ lr: 0.01 }),
  'chain(scaleByAdam, addDecayedWeights, scaleByLearningRate)': () =>
    chain(scaleByAdam(), addDecayedWeights(0.01), scaleByLearningRate(1e-2)) as GradientTransformation<StateValue>,
  'cautious(scaleByAdam)': () => cautious(scaleByAdam()) as GradientTransformation<StateValue>,
  'chain(scaleByAdam, scaleByLearningRate(t => 0.1 / (1 + t)))': () =>
    chain(scaleByAdam(), scaleByLearningRate((t) => 0.1 / (1 + t))) as GradientTransformation<StateValue>,
};

/** Parameters of rank 0 to 4, and of shape [1]. */
export const SHAPES: Record<string, number[]> = { s: [], one: [1], v: [5], m: [4, 3], t3: [2, 3, 4], t4: [2, 2, 3, 2] };

/** Deterministic values with some tiny ones (around the root filter's threshold) and zeros. */
export function wave(size: number, seed: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => (i % 7 === 3 ? 0 : Math.sin(seed * 7.3 + i * 1.9) * (i % 5 === 1 ? 1e-13 : 1)));
}

/** Tensors of `shapes` filled by {@link wave}, one seed per step and parameter. */
export function tensorsAt(shapes: Record<string, number[]>, seed: number): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(shapes).map(([n, s], i) => [n, tf.tensor(wave(tf.util.sizeFromShape(s), 10 * seed + i + 3), s)]));
}

/** A loss that falls with jumps, so the emotion (and with it the shadow) moves. */
export const lossAt = (t: number): number => 3 - 0.2 * t + (t % 3 === 1 ? 1.5 : 0);

/** Every leaf of a tree as dtype, shape and exact bits (numbers as they are). */
export function exact(tree: unknown): unknown[] {
  return flattenState(tree as StateValue).map(({ path, value }) => {
    if (!isTensor(value)) return [path, value];
    const data = value.dataSync();
    const raw = data instanceof Float32Array ? new Uint32Array(data.buffer, data.byteOffset, data.length) : data;
    return [path, value.dtype, value.shape, Array.from(raw as ArrayLike<number>)];
  });
}

/** Every leaf of a tree as dtype, shape and values (numbers as one value). */
export function leafValues(tree: unknown): [string, string, number[], number[]][] {
  return flattenState(tree as StateValue).map(({ path, value }) =>
    isTensor(value) ? [path, value.dtype, value.shape, Array.from(value.dataSync())] : [path, typeof value, [], [Number(value)]],
  );
}

/** `|a - e| <= atol + rtol |e|` for every entry (NaN equal to NaN), or the first entry that is not. */
export function firstMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4, atol = 1e-6): number {
  if (actual.length !== expected.length) return 0;
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [actual[i]!, expected[i]!];
    if (!(Number.isNaN(a) && Number.isNaN(e)) && !(Math.abs(a - e) <= atol + rtol * Math.abs(e))) return i;
  }
  return -1;
}

/**
 * Spies on the active backend's `read` and `readSync` until `vi.restoreAllMocks()`;
 * returns a function giving the number of reads so far. On the cpu backend every read
 * counts. On wasm, a kernel's own `readSync` is a view of the module's heap, the memory
 * its kernels compute in, not a readback (its Slice kernel, which the emotion window's
 * shift and the composed path use, reads its input that way): only reads outside a kernel
 * count there.
 */
export function spyOnReads(): () => number {
  const backend = tf.backend();
  const inKernel = tf.getBackend() === 'wasm' ? () => tf.engine().state.kernelDepth > 0 : () => false;
  let reads = 0;
  for (const method of ['read', 'readSync'] as const) {
    const original = backend[method].bind(backend) as (...args: unknown[]) => unknown;
    vi.spyOn(backend, method).mockImplementation(((...args: unknown[]) => {
      if (!inKernel()) reads++;
      return original(...args);
    }) as never);
  }
  return () => reads;
}
