import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyStep, explainFusion, flattenState, statefulOptimizer, unflattenState, type GradientTransformation, type StateValue } from '@emosens/core';
import { adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { registerCpuKernels } from '../src/index.js';
import { firstMismatch, lossSchedule, randomGradValues, randomValues, seeded } from '@emosens/conformance';
import { stateSnapshot, values } from './helpers.js';

let unregister: () => void;
beforeAll(() => {
  unregister = registerCpuKernels();
});
afterAll(() => unregister());

const optimizers: Record<string, () => GradientTransformation<StateValue>> = {
  emoSens: () => emoSens({ useShadow: true }),
  emoAiry: () => emoAiry({ useShadow: true }),
  emoCats: () => emoCats({ useShadow: true }),
  adamw: () => adamw(),
};

/** The cpu backend's next dataId, read by making (and freeing) a probe tensor. */
function nextDataId(): number {
  const probe = tf.scalar(0);
  const id = (probe.dataId as { id: number }).id;
  probe.dispose();
  return id;
}

describe('no allocation per step', () => {
  for (const [label, make] of Object.entries(optimizers)) {
    it(`${label}: 100 steps keep numTensors, numBytes and every tensor's storage`, () => {
      const rand = seeded(3);
      const params = { w: tf.variable(tf.tensor(randomValues(rand, 60), [5, 3, 4])), b: tf.variable(tf.tensor(randomValues(rand, 4), [4])) };
      const grads = { w: tf.tensor(randomGradValues(rand, 60), [5, 3, 4]), b: tf.tensor(randomGradValues(rand, 4), [4]) };
      const lossTensor = tf.scalar(1);
      const lossAt = lossSchedule(rand, 120);
      const opt = statefulOptimizer(make(), params);
      // Each tensor's storage is adopted (copied) once, the first time a step writes it: the
      // shadow copy when the shadow is first taken (a loss jump at step 5).
      for (let t = 0; t < 10; t++) opt.step(grads, { loss: lossAt(t) });
      expect(opt.path).toBe('fused');
      for (const [path, v] of stateSnapshot(opt.state)) if (path.endsWith('/taken')) expect(v).toEqual([1]);
      const memory = tf.memory();
      const storage = () => [...Object.values(opt.params), ...flattenState(opt.state).map((l) => l.value)]
        .filter((v): v is tf.Tensor => typeof v === 'object')
        .map((t) => t.dataId);
      const ids = storage();
      const firstFreeId = nextDataId();
      for (let t = 10; t < 110; t++) opt.step(grads, { loss: t % 2 ? lossAt(t) : lossTensor });
      expect(tf.memory().numTensors).toBe(memory.numTensors);
      expect(tf.memory().numBytes).toBe(memory.numBytes);
      expect(tf.memory().numDataBuffers).toBe(memory.numDataBuffers);
      expect(storage()).toEqual(ids); // the same storage, written in place
      expect(nextDataId()).toBe(firstFreeId + 1); // no dataId was created by the 100 steps
      opt.dispose();
      tf.dispose([...Object.values(params), ...Object.values(grads), lossTensor]);
    });
  }

  it('no leaks: everything a run created is released with the optimizer', () => {
    const before = tf.memory().numTensors;
    const w = tf.tensor([1, 2, 3, 4], [2, 2]);
    const opt = statefulOptimizer(emoSens({ useShadow: true }), { w });
    for (let t = 0; t < 10; t++) {
      const g = tf.tensor([0.1, -0.2, 0.3, t], [2, 2]);
      opt.step({ w: g }, { loss: 10 - t * t });
      g.dispose();
    }
    opt.dispose();
    w.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('in place only where safe', () => {
  const rand = seeded(11);
  const grads = (shape: number[]) => ({ w: tf.tensor(randomGradValues(rand, tf.util.sizeFromShape(shape)), shape) });

  for (const [label, make] of Object.entries(optimizers)) {
    it(`${label}: tf.variable(t) leaves t unchanged, and so does a plain tensor handed to the optimizer`, () => {
      const t = tf.tensor(randomValues(rand, 6), [2, 3]);
      const original = values(t);
      const v = tf.variable(t); // shares t's storage
      const opt = statefulOptimizer(make(), { w: v });
      const plain = statefulOptimizer(make(), { w: t }); // makes its own variable from t, sharing storage too
      for (let i = 0; i < 5; i++) {
        const g = grads([2, 3]);
        opt.step(g, { loss: 5 - i });
        plain.step(g, { loss: 5 - i });
        tf.dispose(Object.values(g));
      }
      expect(opt.path).toBe('fused');
      expect(values(t)).toEqual(original);
      expect(values(v)).not.toEqual(original);
      expect(values(plain.params.w!)).toEqual(values(v));
      opt.dispose();
      plain.dispose();
      tf.dispose([t, v]);
    });
  }

  it("the caller's typed array behind tf.tensor(array) and a slice's source are not written", () => {
    const array = Float32Array.from([1, 2, 3, 4]);
    const fromArray = tf.tensor(array, [4]); // keeps `array` as its storage
    const big = tf.tensor([9, 8, 7, 6, 5, 4, 3, 2]);
    const view = tf.slice(big, [0], [4]); // on the cpu backend: a subarray of big's storage
    const a = statefulOptimizer(emoSens(), { w: fromArray });
    const b = statefulOptimizer(emoSens(), { w: view });
    for (let i = 0; i < 3; i++) {
      const g = tf.tensor([1, -1, 2, -2]);
      a.step({ w: g }, { loss: 3 - i });
      b.step({ w: g }, { loss: 3 - i });
      g.dispose();
    }
    expect(Array.from(array)).toEqual([1, 2, 3, 4]);
    expect(values(big)).toEqual([9, 8, 7, 6, 5, 4, 3, 2]);
    expect(values(a.params.w!)).not.toEqual([1, 2, 3, 4]);
    a.dispose();
    b.dispose();
    tf.dispose([fromArray, big, view]);
  });

  it('a state restored by unflattenState from tensors shared elsewhere is not corrupted', () => {
    const before = tf.memory().numTensors;
    const clones: tf.Tensor[] = [];
    const clone = (t: tf.Tensor) => (clones.push(tf.clone(t)), clones[clones.length - 1]!);
    const make = () => emoSens({ useShadow: true, lr: 1e-2 });
    const lossAt = lossSchedule(rand, 30);
    const steps = Array.from({ length: 30 }, (_, t) => ({ loss: lossAt(t), grads: grads([3, 2]) }));
    const init = { w: tf.tensor(randomValues(rand, 6), [3, 2]) };
    const source = statefulOptimizer(make(), init);
    steps.slice(0, 10).forEach(({ grads: g, loss }) => source.step(g, { loss }));

    // a checkpoint whose leaves are clones (sharing storage with the source's state), and a
    // state restored from clones of the checkpoint (sharing storage with both)
    const checkpoint = new Map(flattenState(source.state).map((l) => [l.path, typeof l.value === 'object' ? tf.clone(l.value) : l.value]));
    const saved = stateSnapshot(source.state);
    const restored = statefulOptimizer(make(), { w: clone(source.params.w!) });
    restored.setState(unflattenState(restored.state, new Map([...checkpoint].map(([p, v]) => [p, typeof v === 'object' ? tf.clone(v) : v]))));
    const reference = statefulOptimizer(make(), init, { fused: false });
    steps.slice(0, 10).forEach(({ grads: g, loss }) => reference.step(g, { loss }));
    // all go on, interleaved: none may write another's storage
    for (const { grads: g, loss } of steps.slice(10)) {
      source.step(g, { loss });
      restored.step(g, { loss });
      reference.step(g, { loss });
    }
    expect(restored.path).toBe('fused');
    expect(firstMismatch(source.params.w!.dataSync(), reference.params.w!.dataSync())).toBe(-1);
    expect(values(restored.params.w!)).toEqual(values(source.params.w!));
    // the checkpoint still holds the values saved at step 10
    for (const [path, value] of checkpoint) {
      if (typeof value === 'object') expect([path, values(value)]).toEqual([path, saved.get(path)]);
    }
    reference.dispose();

    // a restored state whose leaves alias one tensor: mu and nu are the same clone of `zeros`
    // (setState hands the tensors to the optimizer, so each side gets its own clones)
    const zeros = tf.zeros([3, 2]);
    const leaves = () => {
      const shared = tf.clone(zeros);
      const out = new Map([...checkpoint].map(([p, v]) => [p, typeof v === 'object' ? tf.clone(v) : v]));
      tf.dispose([out.get('step/inner/direction/mu/w') as tf.Tensor, out.get('step/inner/direction/nu/w') as tf.Tensor]);
      out.set('step/inner/direction/mu/w', shared);
      out.set('step/inner/direction/nu/w', shared);
      return out;
    };
    const fused = statefulOptimizer(make(), { w: clone(init.w) });
    const composed = statefulOptimizer(make(), { w: clone(init.w) }, { fused: false });
    fused.setState(unflattenState(fused.state, leaves()));
    composed.setState(unflattenState(composed.state, leaves()));
    for (const { grads: g, loss } of steps.slice(10)) {
      fused.step(g, { loss });
      composed.step(g, { loss });
    }
    expect(fused.path).toBe('fused');
    expect(firstMismatch(fused.params.w!.dataSync(), composed.params.w!.dataSync())).toBe(-1);
    expect(values(zeros)).toEqual([0, 0, 0, 0, 0, 0]);
    [source, restored, fused, composed].forEach((o) => o.dispose());
    tf.dispose([zeros, init.w, ...clones, ...[...checkpoint.values()].filter((v): v is tf.Tensor => typeof v === 'object')]);
    steps.forEach(({ grads: g }) => tf.dispose(Object.values(g)));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a kept clone of a signal keeps its value; a gradient that is the parameter itself is read before the write', () => {
    const w = tf.tensor([0.5, -1, 2]);
    const fused = statefulOptimizer(emoCats({ lr: 0.1 }), { w });
    const composed = statefulOptimizer(emoCats({ lr: 0.1 }), { w }, { fused: false });
    fused.step({ w: tf.tensor([1, 1, 1]) }, { loss: 1 });
    const kept = tf.clone(fused.signals.emotion!);
    const keptValue = values(kept);
    composed.step({ w: tf.tensor([1, 1, 1]) }, { loss: 1 });
    for (let i = 0; i < 3; i++) {
      fused.step({ w: fused.params.w! }, { loss: 2 + i });
      composed.step({ w: composed.params.w! }, { loss: 2 + i });
    }
    expect(values(kept)).toEqual(keptValue);
    expect(fused.readSignal('emotion')).not.toBe(keptValue[0]);
    expect(values(fused.params.w!)).toEqual(values(composed.params.w!));
    fused.dispose();
    composed.dispose();
    tf.dispose([w, kept]);
  });
});

describe('one tensor at two state leaves', () => {
  it('runs composed (the fused path declines, naming the leaves): a leaf the step does not write keeps its values', () => {
    const rand = seeded(21);
    const init = { w: tf.tensor(randomValues(rand, 4)), x: tf.tensor(randomValues(rand, 4)) };
    const grads = { w: tf.tensor(randomGradValues(rand, 4)) };
    const gx = tf.tensor(randomGradValues(rand, 4));
    // the Adam moments of x point at those of w (a restored state); only w has a gradient
    const run = (fused: boolean) => {
      const opt = statefulOptimizer(emoSens(), init, { fused, allowMissing: true });
      opt.step({ ...grads, x: gx }, { loss: 2 });
      const leaves = new Map(flattenState(opt.state).map((l) => [l.path, l.value]));
      for (const m of ['mu', 'nu']) {
        (leaves.get(`step/direction/${m}/x`) as tf.Tensor).dispose();
        leaves.set(`step/direction/${m}/x`, leaves.get(`step/direction/${m}/w`)!);
      }
      opt.setState(unflattenState(opt.state, leaves));
      const before = stateSnapshot(opt.state);
      const reason = explainFusion(opt.transform, 'cpu', { params: opt.params, state: opt.state, grads, loss: 1 });
      const paths: string[] = [];
      for (let t = 0; t < 3; t++) {
        opt.step(grads, { loss: 1.5 - 0.1 * t });
        paths.push(opt.path!);
      }
      return { opt, before, reason, paths };
    };
    const tensors = tf.memory().numTensors;
    const fused = run(true);
    const composed = run(false);
    // the fused path declines a state whose leaves share storage, and says why; the
    // composed step leaves distinct tensors, so the following steps fuse
    expect(fused.paths).toEqual(['composed', 'fused', 'fused']);
    expect(fused.reason).toEqual({
      fused: false,
      reason: expect.stringMatching(/^state 'step\/direction\/(mu|nu)\/x' shares its storage with state 'step\/direction\/(mu|nu)\/w'$/),
    });
    const after = stateSnapshot(fused.opt.state);
    expect(after.get('step/direction/nu/x')).toEqual(fused.before.get('step/direction/nu/x'));
    expect(after.get('step/direction/nu/w')).not.toEqual(fused.before.get('step/direction/nu/w'));
    const expected = stateSnapshot(composed.opt.state);
    for (const [path, v] of expected) expect([path, firstMismatch(after.get(path)!, v)]).toEqual([path, -1]);
    expect(firstMismatch(fused.opt.params.w!.dataSync(), composed.opt.params.w!.dataSync())).toBe(-1);
    fused.opt.dispose();
    composed.opt.dispose();
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([...Object.values(init), ...Object.values(grads), gx]);
  });
});

describe('no readback, and errors leave everything as it was', () => {
  it('a tensor loss is read from cpu memory: no readSync, read or dataSync', () => {
    const backend = tf.findBackend('cpu')!;
    const opt = statefulOptimizer(emoSens(), { w: tf.tensor([1, 2, 3]) });
    const g = tf.tensor([0.1, 0.2, 0.3]);
    const loss = tf.scalar(0.7);
    opt.step({ w: g }, { loss });
    const readSync = vi.spyOn(backend, 'readSync');
    const read = vi.spyOn(backend, 'read');
    for (let i = 0; i < 5; i++) opt.step({ w: g }, { loss });
    expect(opt.path).toBe('fused');
    expect(readSync).not.toHaveBeenCalled();
    expect(read).not.toHaveBeenCalled();
    readSync.mockRestore();
    read.mockRestore();
    opt.dispose();
    tf.dispose([g, loss]);
  });

  it('a missing loss throws MISSING_LOSS and changes nothing', () => {
    const opt = statefulOptimizer(emoAiry(), { w: tf.tensor([[1, 2], [3, 4]]) });
    const g = { w: tf.tensor([[1, 1], [1, 1]]) };
    opt.step(g, { loss: 1 });
    const params = values(opt.params.w!);
    const state = stateSnapshot(opt.state);
    const tensors = tf.memory().numTensors;
    expect(() => opt.step(g)).toThrow(expect.objectContaining({ code: 'MISSING_LOSS' }));
    expect(values(opt.params.w!)).toEqual(params);
    expect(stateSnapshot(opt.state)).toEqual(state);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(opt.stepCount).toBe(1);
    opt.dispose();
    tf.dispose(Object.values(g));
  });

  it('a state of the wrong layout is declined by the fused path, and the step throws before any write', () => {
    const opt = statefulOptimizer(emoSens(), { w: tf.tensor([1, 2]) });
    type Layout = { emotion: StateValue; step: { direction: { nu: Record<string, tf.Tensor> } & Record<string, StateValue> } & Record<string, StateValue> };
    const state = opt.state as unknown as Layout;
    const bad = { ...state, step: { ...state.step, direction: { ...state.step.direction, nu: {} } } } as unknown as StateValue;
    // setState refuses it (the layout is checked on restore) ...
    expect(() => opt.setState(bad)).toThrow(/setState: the state has no value for leaf 'step\/direction\/nu\/w'/);
    const emotion = stateSnapshot(state.emotion);
    const g = tf.tensor([1, 1]);
    // ... and a step given it directly is declined by the fused path and throws before any write
    expect(explainFusion(opt.transform, 'cpu', { params: opt.params, state: bad, grads: { w: g }, loss: 1 })).toEqual({
      fused: false,
      reason: expect.stringMatching(/expected a state tensor, got undefined/),
    });
    expect(() => applyStep(opt.transform, opt.params, bad, { w: g }, { loss: 1 })).toThrow();
    expect(stateSnapshot(state.emotion)).toEqual(emotion);
    expect(values(opt.params.w!)).toEqual([1, 2]);
    opt.dispose();
    g.dispose();
  });
});
