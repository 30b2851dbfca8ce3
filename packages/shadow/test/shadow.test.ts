import * as tf from '@tensorflow/tfjs-core';
import { chain, createStepContext, identity, stateless, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { fixedEmotion } from '@emosens/emotion';
import { describe, expect, it } from 'vitest';
import { withShadow } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());
/** An inner step that always moves every parameter by -1 (so blending is visible). */
const minusOne = stateless('minusOne', (u) => tf.sub(tf.zerosLike(u), 1));

function stepAt<S extends StateValue>(t: GradientTransformation<S>, state: S, params: Record<string, tf.Tensor>) {
  return t.update({ w: tf.zeros([2]) }, state, params, createStepContext());
}

describe('the shadow ratio', () => {
  it('is 0 up to |s| = 0.1, then |s| (both pieces of the reference formula)', () => {
    // p = 0; step 1 takes the copy (shadow 0) and moves p to -1; step 2 blends
    // p' = (1 - r) (-1) + r 0 and moves by -1 again: p = -(1 - r) - 1, so r = p + 2.
    const at = (s: number) => {
      const opt = statefulOptimizer(chain(fixedEmotion(s), withShadow(minusOne)), { w: tf.tensor([0]) });
      opt.step({ w: tf.zeros([1]) });
      opt.step({ w: tf.zeros([1]) });
      const r = v(opt.params.w)[0]! + 2;
      opt.dispose();
      return r;
    };
    expect(at(0.05)).toBe(0);
    expect(at(0.1)).toBe(0);
    expect(at(0.3)).toBeCloseTo(0.3, 6); // 0.1 + (0.3 - 0.1) / 0.5 * 0.5
    expect(at(-0.8)).toBeCloseTo(0.8, 6); // 0.6 + (0.8 - 0.6) / 0.4 * 0.4
  });
});

describe('withShadow', () => {
  it('does nothing while the emotion is calm (ratio 0): no copy taken', () => {
    const p = { w: tf.tensor([1, 2]) };
    const t = chain(fixedEmotion(0.05), withShadow(minusOne));
    const r = stepAt(t, t.init(p), p);
    expect(v(r.updates.w)).toEqual([-1, -1]);
    expect(v(r.state[1].shadow.w!.taken)).toEqual([0]);
  });

  it('first active step takes the copy without blending; later steps blend and follow', () => {
    // s = 0.5 -> ratio 0.5.
    // step 1: shadow = p = [1, 2]; update = inner = -1 -> p = [0, 1]
    // step 2: p' = 0.5 * [0, 1] + 0.5 * [1, 2] = [0.5, 1.5]; shadow = [1, 2] + 0.05 * ([0.5, 1.5] - [1, 2]) = [0.975, 1.975]
    //         update = (p' - p) + inner = [0.5, 0.5] - 1 = [-0.5, -0.5] -> p = [-0.5, 0.5]
    const opt = statefulOptimizer(chain(fixedEmotion(0.5), withShadow(minusOne)), { w: tf.tensor([1, 2]) });
    opt.step({ w: tf.zeros([2]) });
    const shadow1 = (opt.state[1] as { shadow: Record<string, { value: tf.Tensor; taken: tf.Tensor }> }).shadow.w!;
    expect(v(shadow1.value)).toEqual([1, 2]);
    expect(v(shadow1.taken)).toEqual([1]);
    expect(v(opt.params.w)).toEqual([0, 1]);
    opt.step({ w: tf.zeros([2]) });
    const shadow2 = (opt.state[1] as { shadow: Record<string, { value: tf.Tensor }> }).shadow.w!;
    expect(v(shadow2.value)).toEqual([expect.closeTo(0.975, 6), expect.closeTo(1.975, 6)]);
    expect(v(opt.params.w)).toEqual([expect.closeTo(-0.5, 6), expect.closeTo(0.5, 6)]);
    opt.dispose();
  });

  it('the inner transform sees the blended parameters', () => {
    // inner returns -p: with p' blended, the final p = p + (p' - p) - p' = 0
    const seen: number[][] = [];
    const minusParam = stateless('minusParam', (_u, p) => {
      seen.push(v(p));
      return tf.neg(p);
    });
    const p = { w: tf.tensor([4, 8]) };
    const t = chain(fixedEmotion(0.5), withShadow(minusParam));
    let s = t.init(p);
    s = stepAt(t, s, p).state; // takes shadow = [4, 8]
    const p2 = { w: tf.tensor([2, 2]) };
    stepAt(t, s, p2); // p' = 0.5 * [2, 2] + 0.5 * [4, 8] = [3, 5]
    expect(seen[1]).toEqual([3, 5]);
  });

  it('needs the emotion signal, and keeps the inner state inside its own', () => {
    const p = { w: tf.tensor([1, 2]) };
    const t = withShadow(identity());
    expect(() => stepAt(t, t.init(p), p)).toThrowError(/reads signal 'emotion'.*withShadow\(identity\)/);
    expect(Object.keys(t.init(p))).toEqual(['inner', 'shadow']);
    expect(() => withShadow(identity(), { follow: 2 })).toThrowError(/'follow' must be in \[0, 1\]/);
  });
});
