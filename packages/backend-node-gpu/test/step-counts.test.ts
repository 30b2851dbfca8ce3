import * as tf from '@tensorflow/tfjs-core';
import { applyStep, explainFusion, flattenState, isTensor, statefulOptimizer, unflattenState, type GradientTransformation, type StateValue } from '@emosens/core';
import { adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { describe, expect, it } from 'vitest';
import { firstMismatch, useTfOpsTarget, wave } from './helpers.js';

// The step counts of the state (`emotion/count` and the Adam moments' `count`) are float32
// scalar tensors, advanced with tf ops on the device like every other state tensor.

const OPTIMIZERS: Record<string, { make: () => GradientTransformation<StateValue>; counts: string[] }> = {
  emoSens: { make: () => emoSens({ lr: 0.01, useShadow: true }), counts: ['emotion/count', 'step/inner/direction/count'] },
  emoAiry: { make: () => emoAiry({ lr: 0.01 }), counts: ['emotion/count', 'step/direction/dense/count'] },
  emoCats: { make: () => emoCats({ lr: 0.001 }), counts: ['emotion/count'] },
  adamw: { make: () => adamw({ lr: 0.01 }), counts: ['moments/count'] },
};

const leavesOf = (state: StateValue) => new Map(flattenState(state).map((l) => [l.path, l.value]));
const valuesOf = (state: StateValue): [string, number[]][] =>
  [...leavesOf(state)].map(([path, v]) => [path, isTensor(v) ? Array.from(v.dataSync()) : [Number(v)]]);
const countOf = (state: StateValue, path: string) => leavesOf(state).get(path) as tf.Tensor;

describe('step counts through the tf-ops target, on the cpu backend', () => {
  const target = useTfOpsTarget('cpu');

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
        expect(fused.path).toBe('fused');
        tf.dispose([...Object.values(grads), loss]);
      }
      const leaves = leavesOf(fused.state);
      expect([...leaves.keys()].filter((p) => p.endsWith('count')).sort()).toEqual(counts);
      for (const path of counts) {
        const count = countOf(fused.state, path);
        expect([path, count.dtype, count.shape, Array.from(count.dataSync())]).toEqual([path, 'float32', [], [7]]);
      }
      const a = valuesOf(fused.state);
      const e = valuesOf(composed.state);
      expect(a.map(([p]) => p)).toEqual(e.map(([p]) => p));
      e.forEach(([path, expected], i) => expect([path, firstMismatch(a[i]![1], expected)]).toEqual([path, -1]));
      fused.dispose();
      composed.dispose();
      tf.dispose(Object.values(init));
    });
  }

  it('two count leaves that are one tensor (a restored state) run composed, and each advances once', () => {
    const init = { w: tf.tensor(wave(6, 3), [6]) };
    const opt = statefulOptimizer(emoSens(), init);
    for (let t = 0; t < 3; t++) {
      const g = { w: tf.tensor(wave(6, 30 + t), [6]) };
      opt.step(g, { loss: 2 - t });
      tf.dispose(g.w);
    }
    const leaves = leavesOf(opt.state);
    (leaves.get('step/direction/count') as tf.Tensor).dispose();
    leaves.set('step/direction/count', leaves.get('emotion/count')!);
    opt.setState(unflattenState(opt.state, leaves));
    const g = { w: tf.tensor(wave(6, 40), [6]) };
    const runs = target.runs;
    opt.step(g, { loss: 1 });
    // the tracer declines a state whose tensors share storage; the composed path runs the step
    expect([opt.path, target.runs - runs]).toEqual(['composed', 0]);
    expect(Array.from(countOf(opt.state, 'emotion/count').dataSync())).toEqual([4]);
    expect(Array.from(countOf(opt.state, 'step/direction/count').dataSync())).toEqual([4]);
    // the next step has two tensors again, and runs fused
    opt.step(g, { loss: 1 });
    expect(opt.path).toBe('fused');
    expect(Array.from(countOf(opt.state, 'step/direction/count').dataSync())).toEqual([5]);
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
      expect(Array.from(countOf(fused.state, 'moments/count').dataSync())).toEqual([expected]);
      expect(valuesOf(fused.state).map(([p]) => p)).toEqual(valuesOf(composed.state).map(([p]) => p));
      expect(firstMismatch(fused.params.w!.dataSync(), composed.params.w!.dataSync())).toBe(-1);
      fused.dispose();
      composed.dispose();
      init.w.dispose();
    });
  }

  it('a count of shape [1] (one element) runs fused and keeps its shape', () => {
    const opt = statefulOptimizer(emoCats(), { w: tf.tensor([1, 2, 3]) });
    const state = opt.state as unknown as { emotion: Record<string, StateValue> } & Record<string, StateValue>;
    const old = state.emotion.count as tf.Tensor;
    opt.setState({ ...state, emotion: { ...state.emotion, count: tf.tensor([0]) } } as unknown as StateValue);
    old.dispose();
    const g = tf.tensor([1, 1, 1]);
    for (let t = 0; t < 2; t++) opt.step({ w: g }, { loss: 1 });
    expect(opt.path).toBe('fused');
    const count = countOf(opt.state, 'emotion/count');
    expect([count.dtype, count.shape, Array.from(count.dataSync())]).toEqual(['float32', [1], [2]]);
    opt.dispose();
    g.dispose();
  });

  it('a count kept on the host (a number) is not the layout: fused declines, the composed step refuses it naming the block, nothing changes', () => {
    const opt = statefulOptimizer(adamw(), { w: tf.tensor([1, 2, 3]) });
    const state = opt.state as unknown as { moments: Record<string, StateValue> } & Record<string, StateValue>;
    const bad = { ...state, moments: { ...state.moments, count: 0 } } as unknown as StateValue;
    // setState refuses it (the layout is checked on restore) ...
    expect(() => opt.setState(bad)).toThrow(expect.objectContaining({ code: 'INVALID_STATE', message: expect.stringMatching(/'moments\/count' must be a float32 tensor/) }));
    const g = tf.tensor([1, 1, 1]);
    // ... and a step given it directly: fused declines, the composed step refuses it naming the block
    const explained = explainFusion(opt.transform, 'cpu', { params: opt.params, state: bad, grads: { w: g } });
    expect(explained.fused).toBe(false);
    expect((explained as { reason: string }).reason).toMatch(/expected a state tensor, got number/);
    expect(() => applyStep(opt.transform, opt.params, bad, { w: g })).toThrow(
      expect.objectContaining({ code: 'INVALID_STATE', message: expect.stringMatching(/^scaleByAdam: expected a state tensor, got number/) }),
    );
    expect(Array.from(opt.params.w!.dataSync())).toEqual([1, 2, 3]);
    opt.dispose();
    g.dispose();
  });
});
