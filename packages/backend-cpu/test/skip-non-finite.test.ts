import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  applyStep,
  canGuardNonFinite,
  disposeReplaced,
  disposeState,
  flattenState,
  isTensor,
  type GradientTransformation,
  type Loss,
  type Signals,
  type StateValue,
} from '@emosens/core';
import { adam, adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { registerCpuKernels, type Precision } from '../src/index.js';
import { randomGradValues, randomValues, seeded } from './helpers.js';

// With skipNonFinite, the cpu kernels scan the loss and every gradient in cpu memory
// before they write anything: a NaN or an infinity leaves parameters and state as they
// were (the same state object), and the run goes on as if the step had never come.

const optimizers: Record<string, () => GradientTransformation<StateValue>> = {
  emoSens: () => emoSens(),
  'emoSens (shadow)': () => emoSens({ useShadow: true }),
  emoAiry: () => emoAiry({ useShadow: true }),
  emoCats: () => emoCats(),
  adam: () => adam(),
  adamw: () => adamw(),
};

/** Every leaf of a tree, a tensor as dtype, shape and exact bits. */
function exact(tree: unknown): unknown[] {
  return flattenState(tree).map(({ path, value }) => {
    if (!isTensor(value)) return [path, value];
    const data = value.dataSync();
    const raw = data instanceof Float32Array ? new Uint32Array(data.buffer, data.byteOffset, data.length) : data;
    return [path, value.dtype, value.shape, Array.from(raw as ArrayLike<number>)];
  });
}

/** An optimizer run through applyStep on variables, as StatefulOptimizer and the tfjs adapter do. */
function driver(make: () => GradientTransformation<StateValue>, seed: number) {
  const rand = seeded(seed);
  const transform = make();
  const params = {
    w: tf.variable(tf.tensor(randomValues(rand, 12), [3, 4])),
    b: tf.variable(tf.tensor(randomValues(rand, 4), [4])),
  };
  let state = transform.init(params);
  let signals: Partial<Signals> = {};
  const run = (grads: Record<string, tf.Tensor>, loss: Loss, skipNonFinite: boolean) => {
    const r = applyStep(transform, params, state, grads, { loss, skipNonFinite });
    disposeReplaced(signals, r.state, r.signals, params);
    state = r.state;
    signals = r.signals;
    return r;
  };
  return {
    transform,
    params,
    run,
    get state() {
      return state;
    },
    get signals() {
      return signals;
    },
    snapshot: () => ({ params: exact(params), state: exact(state) }),
    dispose() {
      disposeState(state);
      disposeReplaced(signals, state);
      tf.dispose(Object.values(params));
    },
  };
}

function stepInputs(rand: () => number, t: number) {
  return {
    grads: { w: tf.tensor(randomGradValues(rand, 12), [3, 4]), b: tf.tensor(randomGradValues(rand, 4), [4]) },
    loss: 2 - 0.05 * t + 0.1 * rand(),
  };
}

let unregister: (() => void) | undefined;
afterEach(() => {
  unregister?.();
  unregister = undefined;
  vi.restoreAllMocks();
});

describe('skipNonFinite on the fused cpu kernels', () => {
  it('every kernel declares that it guards non-finite input', () => {
    unregister = registerCpuKernels();
    for (const make of Object.values(optimizers)) expect(canGuardNonFinite(make())).toBe(true);
  });

  for (const precision of ['fast', 'exact'] as Precision[]) {
    for (const [label, make] of Object.entries(optimizers)) {
      it(`${label} (${precision}): a NaN/Inf gradient or loss changes nothing bit for bit, reads nothing, and later steps match a twin`, () => {
        unregister = registerCpuKernels({ precision });
        const guarded = driver(make, 3);
        const twin = driver(make, 3);
        const rand = seeded(11);
        const good = Array.from({ length: 8 }, (_, t) => stepInputs(rand, t));
        const step = (t: number) => {
          const { grads, loss } = good[t]!;
          const a = guarded.run(grads, loss, true);
          twin.run(grads, loss, false);
          expect([a.path, a.finite]).toEqual(['fused', true]);
        };
        for (let t = 0; t < 4; t++) step(t);

        const nanGrad = { w: tf.tensor(randomGradValues(rand, 12), [3, 4]), b: tf.tensor([0.5, Number.NaN, 1, 2]) };
        const infGrad = { w: tf.tensor(randomGradValues(rand, 12).fill(Number.NEGATIVE_INFINITY, 7, 8), [3, 4]), b: good[0]!.grads.b };
        const infLoss = tf.scalar(Number.POSITIVE_INFINITY);
        const bad: [Record<string, tf.Tensor>, Loss][] = [
          [nanGrad, 1],
          [infGrad, 1],
          [good[1]!.grads, infLoss],
          [good[1]!.grads, Number.NaN],
        ];
        for (const [grads, loss] of bad) {
          const before = guarded.snapshot();
          const state = guarded.state;
          const tensors = tf.memory().numTensors;
          const backend = tf.findBackend('cpu')!;
          const readSync = vi.spyOn(backend, 'readSync');
          const read = vi.spyOn(backend, 'read');
          const r = guarded.run(grads, loss, true);
          expect(readSync).not.toHaveBeenCalled();
          expect(read).not.toHaveBeenCalled();
          vi.restoreAllMocks();
          expect(r.path).toBe('fused');
          expect(r.finite).toBe(false);
          expect(r.state).toBe(state);
          expect(tf.memory().numTensors).toBe(tensors); // nothing allocated, nothing released
          if (label.startsWith('emo')) {
            const emotion = (state as { emotion: { scalar: tf.Tensor; calm: tf.Tensor } }).emotion;
            expect(r.signals.emotion).toBe(emotion.scalar);
            expect(r.signals.calm).toBe(emotion.calm);
          } else {
            expect(r.signals).toEqual({});
          }
          expect(guarded.snapshot()).toEqual(before);
        }
        for (let t = 4; t < 8; t++) {
          step(t);
          expect(guarded.snapshot()).toEqual(twin.snapshot());
        }
        tf.dispose([...Object.values(nanGrad), infGrad.w, infLoss, ...good.flatMap((s) => Object.values(s.grads))]);
        guarded.dispose();
        twin.dispose();
      });
    }
  }
});
