import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { flattenState, statefulOptimizer, unflattenState, type GradientTransformation, type StateValue } from '@emosens/core';
import { adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { registerCpuKernels } from '../src/index.js';
import { firstMismatch, randomGradValues, randomValues, seeded, stateSnapshot, values } from './helpers.js';

// The step counts of the state (`emotion/count` and the Adam blocks' `count`) are float32
// scalar tensors: the kernels read them from cpu memory and write `count + 1` in place.

const optimizers: Record<string, { make: () => GradientTransformation<StateValue>; counts: string[] }> = {
  emoSens: { make: () => emoSens({ useShadow: true }), counts: ['emotion/count', 'step/inner/direction/count'] },
  emoAiry: { make: () => emoAiry(), counts: ['emotion/count', 'step/direction/dense/count'] },
  emoCats: { make: () => emoCats(), counts: ['emotion/count'] },
  adamw: { make: () => adamw(), counts: ['moments/count'] },
};

const countLeaves = (state: StateValue) =>
  new Map(flattenState(state).filter((l) => l.path.endsWith('count')).map((l) => [l.path, l.value as tf.Tensor]));

describe('step counts on the fused cpu path', () => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerCpuKernels({ precision: 'exact' });
  });
  afterAll(() => unregister());

  for (const [label, { make, counts }] of Object.entries(optimizers)) {
    it(`${label}: every count is a float32 scalar tensor that counts the steps, written in place, without a readback`, () => {
      const rand = seeded(5);
      const params = { w: tf.tensor(randomValues(rand, 6), [2, 3]), b: tf.tensor(randomValues(rand, 3), [3]) };
      const grads = { w: tf.tensor(randomGradValues(rand, 6), [2, 3]), b: tf.tensor(randomGradValues(rand, 3), [3]) };
      const opt = statefulOptimizer(make(), params);
      expect([...countLeaves(opt.state).keys()].sort()).toEqual(counts);
      opt.step(grads, { loss: 1 });
      const first = countLeaves(opt.state);
      const backend = tf.findBackend('cpu')!;
      const readSync = vi.spyOn(backend, 'readSync');
      const read = vi.spyOn(backend, 'read');
      for (let t = 1; t < 7; t++) opt.step(grads, { loss: 1 + t });
      expect(readSync).not.toHaveBeenCalled();
      expect(read).not.toHaveBeenCalled();
      vi.restoreAllMocks();
      expect(opt.path).toBe('fused');
      for (const [path, count] of countLeaves(opt.state)) {
        expect([path, count.dtype, count.shape, values(count)]).toEqual([path, 'float32', [], [7]]);
        expect(count).toBe(first.get(path)); // the tensor of the first step, written in place since
      }
      opt.dispose();
      tf.dispose([...Object.values(params), ...Object.values(grads)]);
    });
  }

  it('two count leaves that are one tensor (a restored state) each advance once, and a kept clone stays', () => {
    const rand = seeded(9);
    const init = { w: tf.tensor(randomValues(rand, 6), [3, 2]) };
    const steps = Array.from({ length: 8 }, (_, t) => ({ loss: 3 - 0.2 * t, grads: { w: tf.tensor(randomGradValues(rand, 6), [3, 2]) } }));
    const fused = statefulOptimizer(emoSens(), init);
    const composed = statefulOptimizer(emoSens(), init, { fused: false });
    steps.slice(0, 4).forEach(({ grads, loss }) => {
      fused.step(grads, { loss });
      composed.step(grads, { loss });
    });
    // Both counts are 4; point both leaves at the fused optimizer's own emotion count (storage
    // it may write in place), and keep a clone of it as a checkpoint.
    const alias = (opt: typeof fused) => {
      const leaves = new Map(flattenState(opt.state).map((l) => [l.path, l.value]));
      leaves.set('step/direction/count', leaves.get('emotion/count')!);
      opt.setState(unflattenState(opt.state, leaves));
    };
    alias(fused);
    alias(composed);
    const kept = tf.clone(countLeaves(fused.state).get('emotion/count')!);
    for (const { grads, loss } of steps.slice(4)) {
      fused.step(grads, { loss });
      composed.step(grads, { loss });
    }
    expect(fused.path).toBe('fused');
    const counts = countLeaves(fused.state);
    expect(values(counts.get('emotion/count')!)).toEqual([8]);
    expect(values(counts.get('step/direction/count')!)).toEqual([8]);
    expect(values(kept)).toEqual([4]);
    expect(stateSnapshot(fused.state)).toEqual(stateSnapshot(composed.state));
    expect(values(fused.params.w!)).toEqual(values(composed.params.w!));
    fused.dispose();
    composed.dispose();
    tf.dispose([kept, init.w, ...steps.map((s) => s.grads.w)]);
  });

  it('a count that is not a non-negative integer is refused with INVALID_STATE, before any write', () => {
    for (const bad of [tf.scalar(1.5), tf.scalar(-1), tf.scalar(Number.NaN)]) {
      const opt = statefulOptimizer(emoSens(), { w: tf.tensor([1, 2]) });
      const leaves = new Map(flattenState(opt.state).map((l) => [l.path, l.value]));
      const replaced = leaves.get('step/direction/count') as tf.Tensor;
      leaves.set('step/direction/count', bad);
      opt.setState(unflattenState(opt.state, leaves));
      const before = stateSnapshot(opt.state);
      const g = tf.tensor([1, 1]);
      expect(() => opt.step({ w: g }, { loss: 1 })).toThrow(
        expect.objectContaining({ code: 'INVALID_STATE', message: expect.stringMatching(/^emoSens\/cpu: the Adam moments' step count must be a non-negative integer \(got /) }),
      );
      expect(stateSnapshot(opt.state)).toEqual(before);
      expect(values(opt.params.w!)).toEqual([1, 2]);
      opt.dispose();
      tf.dispose([g, replaced]);
    }
  });

});

describe.each(['exact', 'fast'] as const)('AdamW bias corrections from a restored count (%s)', (precision) => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerCpuKernels({ precision });
  });
  afterAll(() => unregister());

  // t = 1 (the largest correction), an ordinary t, and 2^24, where float32 `count + 1` rounds
  // back to 2^24: the count stops there on both paths, and bc = 1 - b^t is 1 in float32.
  for (const start of [0, 12345, 2 ** 24]) {
    it(`count ${start}: fused and composed agree${precision === 'exact' ? ' to the bit' : ' within the golden tolerance'}`, () => {
      const rand = seeded(start + 1);
      const init = { w: tf.tensor(randomValues(rand, 12), [3, 4]) };
      const run = (fused: boolean) => {
        const opt = statefulOptimizer(adamw({ lr: 1e-2, weightDecay: 0.1 }), init, { fused });
        const leaves = new Map(flattenState(opt.state).map((l) => [l.path, l.value]));
        (leaves.get('moments/count') as tf.Tensor).dispose();
        leaves.set('moments/count', tf.scalar(start));
        opt.setState(unflattenState(opt.state, leaves));
        return opt;
      };
      const fused = run(true);
      const composed = run(false);
      const r = seeded(99);
      for (let t = 0; t < 3; t++) {
        const g = { w: tf.tensor(randomGradValues(r, 12), [3, 4]) };
        fused.step(g, {});
        composed.step(g, {});
        tf.dispose(g.w);
      }
      expect(fused.path).toBe('fused');
      const expectedCount = start === 2 ** 24 ? start : start + 3;
      expect(values(countLeaves(composed.state).get('moments/count')!)).toEqual([expectedCount]);
      expect(values(countLeaves(fused.state).get('moments/count')!)).toEqual([expectedCount]);
      if (precision === 'exact') {
        expect(values(fused.params.w!)).toEqual(values(composed.params.w!));
        expect(stateSnapshot(fused.state)).toEqual(stateSnapshot(composed.state));
      } else {
        expect(firstMismatch(fused.params.w!.dataSync(), composed.params.w!.dataSync())).toBe(-1);
      }
      fused.dispose();
      composed.dispose();
      init.w.dispose();
    });
  }
});
