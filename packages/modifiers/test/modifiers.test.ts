import * as tf from '@tensorflow/tfjs-core';
import { chain, createStepContext, identity, type GradientTransformation, type StateValue } from '@emosens/core';
import { fixedEmotion } from '@emosens/emotion';
import { describe, expect, it } from 'vitest';
import {
  addDecayedWeights,
  cautious,
  scaleByEmotionStep,
  scaleByLearningRate,
  scaleBySign,
  scaleBySoftsign,
} from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());

function once<S extends StateValue>(t: GradientTransformation<S>, u: number[], p: number[] = u.map(() => 0)) {
  const params = { x: tf.tensor(p) };
  return t.update({ x: tf.tensor(u) }, t.init(params), params, createStepContext());
}

describe('modifiers', () => {
  it('scaleBySign: sign(u), also for tiny values', () => {
    expect(v(once(scaleBySign(), [3, -0.2, 0, 3e-13, -1e-30]).updates.x).map((x) => x + 0)).toEqual([1, -1, 0, 1, -1]);
  });

  it('scaleBySoftsign: u / (1 + |u|)', () => {
    // 3 / 4 = 0.75, -1 / 2 = -0.5
    expect(v(once(scaleBySoftsign(), [3, -1]).updates.x)).toEqual([0.75, -0.5]);
  });

  it('cautious: zero entries whose sign disagrees with g, rescale by numel / (kept + 1)', () => {
    // inner = identity, then x2 via a custom update: u = [1, -1, 2, 0.5] against g = [1, 1, 2, -1]
    // u * g = [1, -1, 4, -0.5] -> mask [1, 0, 1, 0], kept = 2, scale = 4 / 3
    const flip: GradientTransformation<Record<string, never>> = {
      name: 'flip',
      init: () => ({}),
      update: (_u, state) => ({ updates: { x: tf.tensor([1, -1, 2, 0.5]) }, state }),
    };
    const r = once(cautious(flip), [1, 1, 2, -1]);
    expect(v(r.updates.x).map((x) => x + 0)).toEqual([expect.closeTo(4 / 3, 6), 0, expect.closeTo(8 / 3, 6), 0]);
    expect(cautious(identity()).name).toBe('cautious(identity)');
  });

  it('addDecayedWeights: u + wd * p', () => {
    expect(v(once(addDecayedWeights(0.1), [1, 1], [10, -20]).updates.x)).toEqual([2, -1]);
    expect(() => addDecayedWeights(-1)).toThrowError(/'weightDecay' must be in \[0, inf\)/);
  });

  it('scaleByEmotionStep: u * (1 - |s|)', () => {
    const t = chain(fixedEmotion(-0.25), scaleByEmotionStep());
    expect(v(once(t, [4, -8]).updates.x)).toEqual([3, -6]);
    expect(() => once(scaleByEmotionStep(), [1])).toThrowError(/reads signal 'emotion'.*scaleByEmotionStep/);
  });

  it('scaleByLearningRate: -lr * u (the descent sign), with a schedule by step', () => {
    expect(v(once(scaleByLearningRate(0.5), [2, -4]).updates.x)).toEqual([-1, 2]);
    const t = scaleByLearningRate((step) => 1 / (step + 1));
    const params = { x: tf.zeros([1]) };
    let s = t.init(params);
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = t.update({ x: tf.ones([1]) }, s, params, createStepContext());
      seen.push(v(r.updates.x)[0]!);
      s = r.state;
    }
    expect(seen).toEqual([-1, -0.5, expect.closeTo(-1 / 3, 6)]);
    expect(() => once(scaleByLearningRate(() => Number.NaN), [1])).toThrowError(/schedule returned NaN at step 0/);
    expect(() => scaleByLearningRate(-1)).toThrowError(/'learningRate'/);
  });
});
