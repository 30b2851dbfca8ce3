import * as tf from '@tensorflow/tfjs-core';
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
import type {} from '@emosens/emotion';
import { adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { lastNodeGpuDecline, registerNodeGpuKernels } from '../src/index.js';

// With skipNonFinite, the kernels compute `ok` (loss and every gradient finite) on the
// device and write every value as `where(ok, new, old)`: a NaN or an infinity leaves
// parameters and state as they were, bit for bit, with nothing read back.

const SHAPES: Record<string, number[]> = { w: [4, 3], b: [3], k: [2, 2, 3] };

const OPTIMIZERS: Record<string, () => GradientTransformation<StateValue>> = {
  emoSens: () => emoSens({ lr: 0.01 }),
  'emoSens (shadow)': () => emoSens({ lr: 0.01, useShadow: true }),
  emoAiry: () => emoAiry({ lr: 0.01 }),
  'emoAiry (shadow)': () => emoAiry({ lr: 0.01, useShadow: true }),
  emoCats: () => emoCats({ lr: 0.001, useShadow: true, decoupledWeightDecay: true }),
  adamw: () => adamw({ lr: 0.01 }),
};

function wave(size: number, seed: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => Math.sin(seed * 7.3 + i * 1.9) * (i % 5 === 1 ? 1e-13 : 1));
}
const gradsAt = (t: number) => Object.fromEntries(Object.entries(SHAPES).map(([n, s], i) => [n, tf.tensor(wave(tf.util.sizeFromShape(s), 10 * t + i + 3), s)]));
/** A loss that falls with jumps, so the emotion (and with it the shadow) moves. */
const lossAt = (t: number) => 3 - 0.2 * t + (t % 3 === 1 ? 1.5 : 0);

/** Every leaf of a tree as dtype, shape and exact bits. */
function exact(tree: unknown): unknown[] {
  return flattenState(tree).map(({ path, value }) => {
    if (!isTensor(value)) return [path, value];
    const data = value.dataSync();
    const raw = data instanceof Float32Array ? new Uint32Array(data.buffer, data.byteOffset, data.length) : data;
    return [path, value.dtype, value.shape, Array.from(raw as ArrayLike<number>)];
  });
}

/** An optimizer run through core's applyStep on variables, as StatefulOptimizer and the tfjs adapter do. */
function driver(make: () => GradientTransformation<StateValue>) {
  const transform = make();
  const params = Object.fromEntries(
    Object.entries(SHAPES).map(([n, s], i) => {
      const v = wave(tf.util.sizeFromShape(s), i + 1);
      v[0] = -0; // a -0 entry must survive a skipped step (`-0 + 0` would be `+0`)
      return [n, tf.variable(tf.tensor(v, s))];
    }),
  );
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

/** The bool scalar `finite` of a step as a boolean, then released (the caller owns it). */
function takeFinite(finite: boolean | tf.Scalar | undefined): boolean {
  if (!isTensor(finite)) throw new Error(`expected a bool scalar tensor, got ${String(finite)}`);
  expect([finite.dtype, finite.shape]).toEqual(['bool', []]);
  const value = finite.dataSync()[0] === 1;
  finite.dispose();
  return value;
}

describe('skipNonFinite on the tfjs-node-gpu kernels, registered on the cpu backend', () => {
  let unregister: (() => void) | undefined;
  beforeAll(() => {
    unregister = registerNodeGpuKernels({ backend: 'cpu' });
  });
  afterAll(() => unregister?.());
  afterEach(() => vi.restoreAllMocks());

  it('every kernel declares that it guards non-finite input', () => {
    for (const make of Object.values(OPTIMIZERS)) expect(canGuardNonFinite(make())).toBe(true);
  });

  for (const [label, make] of Object.entries(OPTIMIZERS)) {
    it(`${label}: a NaN gradient or an Inf loss changes nothing bit for bit, reads nothing, leaks nothing, and later steps match a twin`, () => {
      const guarded = driver(make);
      const twin = driver(make);
      const good = Array.from({ length: 8 }, (_, t) => ({ grads: gradsAt(t), loss: tf.scalar(lossAt(t)) }));
      const step = (t: number) => {
        const { grads, loss } = good[t]!;
        const a = guarded.run(grads, loss, true);
        const b = twin.run(grads, loss, false);
        expect([a.path, b.path], lastNodeGpuDecline()).toEqual(['fused', 'fused']);
        expect(b.finite).toBeUndefined();
        expect(takeFinite(a.finite)).toBe(true);
      };
      for (let t = 0; t < 4; t++) step(t);
      expect(guarded.snapshot()).toEqual(twin.snapshot());

      const nanGrad = { ...good[4]!.grads, b: tf.tensor([0.5, Number.NaN, 1]) };
      const infGrad = { ...good[4]!.grads, k: tf.tensor(wave(12, 9).fill(Number.NEGATIVE_INFINITY, 5, 6), SHAPES.k) };
      const infLoss = tf.scalar(Number.POSITIVE_INFINITY);
      const bad: [string, Record<string, tf.Tensor>, Loss][] = [
        ['NaN gradient', nanGrad, good[4]!.loss],
        ['-Inf gradient', infGrad, good[4]!.loss],
        ['Inf loss', good[4]!.grads, infLoss],
        ['NaN number loss', good[4]!.grads, Number.NaN],
      ];
      for (const [what, grads, loss] of bad) {
        const before = guarded.snapshot();
        const tensors = tf.memory().numTensors;
        const backend = tf.findBackend('cpu')!;
        const reads = [vi.spyOn(backend, 'readSync'), vi.spyOn(backend, 'read')];
        const r = guarded.run(grads, loss, true);
        for (const spy of reads) expect(spy, what).not.toHaveBeenCalled();
        vi.restoreAllMocks();
        expect(r.path, what).toBe('fused');
        expect(tf.memory().numTensors, what).toBe(tensors + 1); // the new state replaced the old one; plus `finite`
        expect(takeFinite(r.finite), what).toBe(false);
        expect(guarded.snapshot(), what).toEqual(before);
        if (label.startsWith('emo')) {
          const emotion = (r.state as { emotion: { scalar: tf.Tensor; calm: tf.Tensor } }).emotion;
          expect(r.signals.emotion).toBe(emotion.scalar);
          expect(r.signals.calm).toBe(emotion.calm);
        } else {
          expect(r.signals).toEqual({});
        }
      }
      for (let t = 4; t < 8; t++) {
        step(t);
        expect(guarded.snapshot()).toEqual(twin.snapshot());
      }
      tf.dispose([nanGrad.b, infGrad.k, infLoss, ...good.flatMap((s) => [...Object.values(s.grads), s.loss])]);
      guarded.dispose();
      twin.dispose();
    });
  }

  it('the guard costs a few ops per step, and nothing without skipNonFinite', async () => {
    const kernelsOf = async (run: () => void) => (await tf.profile(run)).kernels.map((k) => k.name);
    for (const [label, make] of Object.entries(OPTIMIZERS)) {
      const plain = driver(make);
      const guarded = driver(make);
      const grads = gradsAt(1);
      const loss = tf.scalar(2);
      const plainKernels = await kernelsOf(() => void plain.run(grads, loss, false));
      const guardedKernels = await kernelsOf(() => void takeFinite(guarded.run(grads, loss, true).finite));
      // no finiteness check without the guard (the emotion's own first-step `where`s are Selects too)
      expect(plainKernels.filter((k) => k === 'IsFinite'), label).toEqual([]);
      const selects = (kernels: string[]) => kernels.filter((k) => k === 'Select').length;
      const writes = flattenState(guarded.state).filter((l) => isTensor(l.value)).length + Object.keys(SHAPES).length;
      const shapes = new Set(flattenState(guarded.state).flatMap((l) => (isTensor(l.value) && l.value.rank > 0 ? [l.value.shape.join(',')] : [])));
      for (const s of Object.values(SHAPES)) shapes.add(s.join(','));
      // ok: IsFinite + Reshape for the loss, IsFinite + All + LogicalAnd per gradient; one
      // LogicalAnd per shape (the shared broadcast condition; `ones` is an upload, not a
      // kernel); one Select per write. Not counted: the Identity kernels `tf.where` launches
      // around its Select (`broadcastTo` of same-shape inputs clones them; Identity only
      // takes a reference to the same storage, on tfjs-node as on cpu, and computes nothing).
      const computing = (kernels: string[]) => kernels.filter((k) => k !== 'Identity').length;
      const extra = 2 + 3 * Object.keys(SHAPES).length + shapes.size + writes;
      expect(computing(guardedKernels) - computing(plainKernels), label).toBe(extra);
      expect(selects(guardedKernels) - selects(plainKernels), label).toBe(writes);
      console.log(`${label}: ${computing(plainKernels)} kernels per step, ${computing(guardedKernels)} with skipNonFinite (3 parameters, Identity not counted)`);
      plain.dispose();
      guarded.dispose();
      tf.dispose([...Object.values(grads), loss]);
    }
  });
});
