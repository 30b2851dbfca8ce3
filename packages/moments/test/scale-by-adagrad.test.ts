import * as tf from '@tensorflow/tfjs-core';
import { disposeReplaced, runTransform } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { scaleByAdagrad } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());
const p = { x: tf.zeros([2]) };

describe('scaleByAdagrad (torch Adagrad without lr)', () => {
  it('one step and a second by hand', () => {
    // step 1, u = [3, -4]: sum = [9, 16], out = [3 / 3, -4 / 4] = [1, -1] (eps 1e-10 is below float32 resolution here)
    // step 2, u = [4, 3]: sum = [25, 25], out = [4 / 5, 3 / 5] = [0.8, 0.6]
    const t = scaleByAdagrad();
    const r1 = runTransform(t, p, t.init(p), { x: tf.tensor1d([3, -4]) });
    expect(v(r1.updates.x)).toEqual([1, -1]);
    expect(v(r1.state.x)).toEqual([9, 16]);
    const r2 = runTransform(t, p, r1.state, { x: tf.tensor1d([4, 3]) });
    expect(v(r2.updates.x)).toEqual([expect.closeTo(0.8, 6), expect.closeTo(0.6, 6)]);
    expect(v(r2.state.x)).toEqual([25, 25]);
  });

  it('initialAccumulatorValue starts the sum', () => {
    // sum = 0.1 + 1 = 1.1, out = 1 / sqrt(1.1) = 0.9534626
    const t = scaleByAdagrad({ initialAccumulatorValue: 0.1 });
    const q = { x: tf.zeros([1]) };
    const r = runTransform(t, q, t.init(q), { x: tf.tensor1d([1]) });
    expect(v(r.updates.x)[0]).toBeCloseTo(0.9534626, 6);
  });

  it('validates options, naming them', () => {
    expect(() => scaleByAdagrad({ eps: -1 })).toThrowError(/scaleByAdagrad: option 'eps' must be in \[0, inf\)/);
    expect(() => scaleByAdagrad({ initialAccumulatorValue: -0.1 })).toThrowError(/option 'initialAccumulatorValue'/);
    expect(() => scaleByAdagrad({ eps: Number.NaN })).toThrowError(/option 'eps' must be a finite number/);
  });

  it('releases everything but the new state and updates', () => {
    const t = scaleByAdagrad();
    let state = t.init(p);
    const g = { x: tf.tensor1d([1, 2]) };
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const r = runTransform(t, p, state, g);
      disposeReplaced(state, r.state);
      state = r.state;
      expect(tf.memory().numTensors).toBe(before + 1);
      r.updates.x!.dispose();
    }
  });
});
