import * as tf from '@tensorflow/tfjs-core';
import { flattenState, isTensor, statefulOptimizer, unflattenState, type GradientTransformation, type StateValue } from '@emosens/core';
import { adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastNodeGpuDecline, registerNodeGpuKernels } from '../src/index.js';

// The step counts of the state (`emotion/count` and the Adam moments' `count`) are float32
// scalar tensors, advanced with tf ops on the device like every other state tensor.

const OPTIMIZERS: Record<string, { make: () => GradientTransformation<StateValue>; counts: string[] }> = {
  emoSens: { make: () => emoSens({ lr: 0.01, useShadow: true }), counts: ['emotion/count', 'step/inner/direction/count'] },
  emoAiry: { make: () => emoAiry({ lr: 0.01 }), counts: ['emotion/count', 'step/direction/dense/count'] },
  emoCats: { make: () => emoCats({ lr: 0.001 }), counts: ['emotion/count'] },
  adamw: { make: () => adamw({ lr: 0.01 }), counts: ['moments/count'] },
};

function wave(size: number, seed: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => Math.sin(seed * 7.3 + i * 1.9) * (i % 5 === 1 ? 1e-13 : 1));
}
const leavesOf = (state: StateValue) => new Map(flattenState(state).map((l) => [l.path, l.value]));
const valuesOf = (state: StateValue): [string, number[]][] =>
  [...leavesOf(state)].map(([path, v]) => [path, isTensor(v) ? Array.from(v.dataSync()) : [Number(v)]]);
const closeTo = (a: ArrayLike<number>, e: ArrayLike<number>) =>
  a.length === e.length && Array.from(e).every((x, i) => Math.abs(a[i]! - x) <= 1e-6 + 1e-4 * Math.abs(x));

describe('step counts through the tfjs-node-gpu kernels, on the cpu backend', () => {
  let unregister: (() => void) | undefined;
  beforeAll(() => {
    unregister = registerNodeGpuKernels({ backend: 'cpu' });
  });
  afterAll(() => unregister?.());

  for (const [name, { make, counts }] of Object.entries(OPTIMIZERS)) {
    it(`${name}: every count is a float32 scalar tensor that counts the steps, as on the composed path`, () => {
      const init = { w: tf.tensor(wave(12, 1), [4, 3]), b: tf.tensor(wave(3, 2), [3]) };
      const fused = statefulOptimizer(make(), init);
      const composed = statefulOptimizer(make(), init, { fused: false });
      for (let t = 0; t < 7; t++) {
        const grads = { w: tf.tensor(wave(12, 10 + t), [4, 3]), b: tf.tensor(wave(3, 20 + t), [3]) };
        const loss = tf.scalar(3 - 0.3 * t + (t === 4 ? 2 : 0));
        fused.step(grads, { loss });
        composed.step(grads, { loss });
        expect(fused.path, lastNodeGpuDecline()).toBe('fused');
        tf.dispose([...Object.values(grads), loss]);
      }
      const leaves = leavesOf(fused.state);
      expect([...leaves.keys()].filter((p) => p.endsWith('count')).sort()).toEqual(counts);
      for (const path of counts) {
        const count = leaves.get(path) as tf.Tensor;
        expect([path, count.dtype, count.shape, Array.from(count.dataSync())]).toEqual([path, 'float32', [], [7]]);
      }
      const a = valuesOf(fused.state);
      const e = valuesOf(composed.state);
      expect(a.map(([p]) => p)).toEqual(e.map(([p]) => p));
      e.forEach(([path, expected], i) => expect([path, closeTo(a[i]![1], expected)]).toEqual([path, true]));
      fused.dispose();
      composed.dispose();
      tf.dispose(Object.values(init));
    });
  }

  it('two count leaves that are one tensor (a restored state) each advance once', () => {
    const init = { w: tf.tensor(wave(6, 3), [6]) };
    const opt = statefulOptimizer(emoSens(), init);
    for (let t = 0; t < 3; t++) {
      const g = { w: tf.tensor(wave(6, 30 + t), [6]) };
      opt.step(g, { loss: 2 - t });
      tf.dispose(g.w);
    }
    const leaves = leavesOf(opt.state);
    leaves.set('step/direction/count', leaves.get('emotion/count')!);
    opt.setState(unflattenState(opt.state, leaves));
    const g = { w: tf.tensor(wave(6, 40), [6]) };
    opt.step(g, { loss: 1 });
    expect(opt.path).toBe('fused');
    const next = leavesOf(opt.state);
    expect(Array.from((next.get('emotion/count') as tf.Tensor).dataSync())).toEqual([4]);
    expect(Array.from((next.get('step/direction/count') as tf.Tensor).dataSync())).toEqual([4]);
    opt.dispose();
    tf.dispose([g.w, init.w]);
  });

  // t = 1, an ordinary t, and 2^24, where float32 `count + 1` rounds back to 2^24
  for (const start of [0, 12345, 2 ** 24]) {
    it(`adamw from a restored count of ${start}: bias corrections on the device agree with the composed path`, () => {
      const init = { w: tf.tensor(wave(12, 5), [3, 4]) };
      const run = (fused: boolean) => {
        const opt = statefulOptimizer(adamw({ lr: 1e-2, weightDecay: 0.1 }), init, { fused });
        const leaves = leavesOf(opt.state);
        (leaves.get('moments/count') as tf.Tensor).dispose();
        leaves.set('moments/count', tf.scalar(start));
        opt.setState(unflattenState(opt.state, leaves));
        return opt;
      };
      const fused = run(true);
      const composed = run(false);
      for (let t = 0; t < 3; t++) {
        const g = { w: tf.tensor(wave(12, 50 + t), [3, 4]) };
        fused.step(g, {});
        composed.step(g, {});
        tf.dispose(g.w);
      }
      expect(fused.path).toBe('fused');
      const expected = start === 2 ** 24 ? start : start + 3;
      expect(Array.from((leavesOf(fused.state).get('moments/count') as tf.Tensor).dataSync())).toEqual([expected]);
      expect(valuesOf(fused.state).map(([p]) => p)).toEqual(valuesOf(composed.state).map(([p]) => p));
      expect(closeTo(fused.params.w!.dataSync(), composed.params.w!.dataSync())).toBe(true);
      fused.dispose();
      composed.dispose();
      init.w.dispose();
    });
  }

  it('a count that is not a float32 scalar tensor declines to the composed path, saying why', () => {
    const opt = statefulOptimizer(emoCats(), { w: tf.tensor([1, 2, 3]) });
    const state = opt.state as unknown as { emotion: Record<string, StateValue> } & Record<string, StateValue>;
    const old = state.emotion.count as tf.Tensor;
    opt.setState({ ...state, emotion: { ...state.emotion, count: tf.tensor([0]) } } as unknown as StateValue);
    old.dispose();
    const g = tf.tensor([1, 1, 1]);
    opt.step({ w: g }, { loss: 1 });
    expect(opt.path).toBe('composed');
    expect(lastNodeGpuDecline()).toBe('emoCats: state.emotion.count must be a float32 scalar');
    opt.dispose();
    g.dispose();
  });

  it('a count kept on the host (a number) declines too, naming the leaf: the kernel advances only tensors', () => {
    const opt = statefulOptimizer(adamw(), { w: tf.tensor([1, 2, 3]) });
    const state = opt.state as unknown as { moments: Record<string, StateValue> } & Record<string, StateValue>;
    const old = state.moments.count as tf.Tensor;
    opt.setState({ ...state, moments: { ...state.moments, count: 0 } } as unknown as StateValue);
    old.dispose();
    const g = tf.tensor([1, 1, 1]);
    opt.step({ w: g }, {});
    expect(opt.path).toBe('composed');
    expect(lastNodeGpuDecline()).toBe("adamw: state leaf 'moments/count' is not a tensor (the fused kernel advances only tensor state)");
    opt.dispose();
    g.dispose();
  });
});
