import * as tf from '@tensorflow/tfjs-core';
import {
  applyStep,
  disposeReplaced,
  disposeState,
  findFusionTarget,
  flattenState,
  isTensor,
  traceStep,
  type GradientTransformation,
  type Loss,
  type Signals,
  type StateValue,
} from '@emosens/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BACKENDS, exact, lossAt, spyOnReads, tensorsAt, TRANSFORMS, useTfOpsTarget, wave } from './helpers.js';

// With skipNonFinite, the target computes `ok` (loss and every gradient finite) on the
// device and writes every value as `where(ok, new, old)`: a NaN or an infinity leaves
// parameters and state tensors as they were, bit for bit, with nothing read back.

const SHAPES: Record<string, number[]> = { w: [4, 3], b: [3], k: [2, 2, 3] };

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
    const r = applyStep(transform, params, state, grads, { loss, skipNonFinite, previousSignals: signals });
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
    snapshot: () => ({ params: exact(params), state: exact(state), signals: exact(signals) }),
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

/** Whether a transform keeps numbers in its state (a schedule's count): those advance on a skipped step. */
const hasHostLeaves = (state: StateValue) => flattenState(state).some((l) => !isTensor(l.value));
const withoutNumbers = (leaves: unknown[]) => leaves.filter((l) => (l as unknown[]).length > 2);

describe.each(BACKENDS)('skipNonFinite on the tf-ops target, on the %s backend', (backend) => {
  useTfOpsTarget(backend);
  afterEach(() => vi.restoreAllMocks());

  it('the target declares that it guards non-finite input, so applyStep keeps guarded steps on it', () => {
    expect(findFusionTarget(backend)?.guardsNonFinite).toBe(true);
  });

  for (const [label, make] of Object.entries(TRANSFORMS)) {
    it(`${label}: a NaN or infinite gradient or loss changes no tensor bit for bit, reads nothing, leaks nothing, and later steps match a twin`, () => {
      const guarded = driver(make);
      const twin = driver(make);
      const host = hasHostLeaves(guarded.state);
      const good = Array.from({ length: 8 }, (_, t) => ({ grads: tensorsAt(SHAPES, t + 1), loss: tf.scalar(lossAt(t)) }));
      const step = (t: number) => {
        const { grads, loss } = good[t]!;
        const a = guarded.run(grads, loss, true);
        const b = twin.run(grads, loss, false);
        expect([a.path, b.path]).toEqual(['fused', 'fused']);
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
        const reads = spyOnReads();
        const r = guarded.run(grads, loss, true);
        expect([what, reads()]).toEqual([what, 0]);
        vi.restoreAllMocks();
        expect(r.path, what).toBe('fused');
        expect(tf.memory().numTensors, what).toBe(tensors + 1); // the new state replaced the old one; plus `finite`
        expect(takeFinite(r.finite), what).toBe(false);
        const after = guarded.snapshot();
        // a non-finite number loss is known on the host: nothing advances, number leaves included
        if (host && typeof loss !== 'number') {
          // documented: number leaves (the schedule's count) advance; every tensor is as it was
          expect(withoutNumbers(after.state), what).toEqual(withoutNumbers(before.state));
          expect({ ...after, state: [] }, what).toEqual({ ...before, state: [] });
        } else {
          expect(after, what).toEqual(before);
        }
        const emotion = (r.state as { emotion?: { scalar: tf.Tensor; calm: tf.Tensor } }).emotion;
        if (emotion) {
          expect(r.signals.emotion).toBe(emotion.scalar);
          expect(r.signals.calm).toBe(emotion.calm);
        }
      }
      for (let t = 4; t < 8; t++) {
        step(t);
        if (!host) expect(guarded.snapshot()).toEqual(twin.snapshot());
      }
      tf.dispose([nanGrad.b, infGrad.k, infLoss, ...good.flatMap((s) => [...Object.values(s.grads), s.loss])]);
      guarded.dispose();
      twin.dispose();
    });
  }

  it('the guard costs a few ops per step, and none without skipNonFinite', async () => {
    const kernelsOf = async (run: () => void) => (await tf.profile(run)).kernels.map((k) => k.name);
    for (const [label, make] of Object.entries(TRANSFORMS)) {
      const plain = driver(make);
      const guarded = driver(make);
      const grads = tensorsAt(SHAPES, 1);
      const loss = tf.scalar(2);
      const traced = traceStep(guarded.transform, guarded.params, guarded.state, grads, loss);
      if (!('step' in traced)) throw new Error(traced.decline);
      const written = [...traced.step.writes.keys()].map((leaf) => traced.step.leafTensors[leaf]!);
      const plainKernels = await kernelsOf(() => void plain.run(grads, loss, false));
      const guardedKernels = await kernelsOf(() => void takeFinite(guarded.run(grads, loss, true).finite));
      expect(plainKernels.filter((k) => k === 'IsFinite'), label).toEqual([]);
      // ok: IsFinite + Reshape for the loss, IsFinite + All + LogicalAnd per gradient; one
      // LogicalAnd per shape (the broadcast condition; `ones` is an upload, not a kernel);
      // one Select per write (each parameter and each written state tensor). Not counted:
      // the Identity kernels `tf.where` launches around a scalar Select (they clone a
      // reference to the same storage and compute nothing).
      const computing = (kernels: string[]) => kernels.filter((k) => k !== 'Identity').length;
      const writes = written.length + Object.keys(SHAPES).length;
      const shapes = new Set([...written.filter((t) => t.rank > 0).map((t) => t.shape.join(',')), ...Object.values(SHAPES).map((s) => s.join(','))]);
      const extra = 2 + 3 * Object.keys(SHAPES).length + shapes.size + writes;
      expect(computing(guardedKernels) - computing(plainKernels), label).toBe(extra);
      expect(guardedKernels.filter((k) => k === 'Select').length - plainKernels.filter((k) => k === 'Select').length, label).toBe(writes);
      if (backend === 'cpu') console.log(`${label}: ${computing(plainKernels)} kernels per step, ${computing(guardedKernels)} with skipNonFinite (3 parameters, Identity not counted)`);
      plain.dispose();
      guarded.dispose();
      tf.dispose([...Object.values(grads), loss]);
    }
  });
});
