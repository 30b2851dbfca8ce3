import * as tf from '@tensorflow/tfjs-core';
import { disposeReplaced, runTransform } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { scaleByAdamax } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());
const p = { x: tf.zeros([1]) };

describe('scaleByAdamax (torch Adamax without lr)', () => {
  it('three steps by hand', () => {
    // step 1, u = 2: m = 0.2, exp_inf = max(0, 2 + 1e-8) = 2, bc1 = 0.1, out = 0.2 / (0.1 * 2) = 1
    // step 2, u = -1: m = 0.18 - 0.1 = 0.08, exp_inf = max(0.999 * 2, 1 + 1e-8) = 1.998, bc1 = 0.19,
    //   out = 0.08 / (0.19 * 1.998) = 0.2107370
    // step 3, u = 5: m = 0.072 + 0.5 = 0.572, exp_inf = max(1.996002, 5 + 1e-8) = 5, bc1 = 0.271,
    //   out = 0.572 / (0.271 * 5) = 0.4221402
    const t = scaleByAdamax();
    const r1 = runTransform(t, p, t.init(p), { x: tf.tensor1d([2]) });
    expect(v(r1.updates.x)[0]).toBeCloseTo(1, 6);
    expect(v(r1.state.mu.x)[0]).toBeCloseTo(0.2, 7);
    expect(v(r1.state.nu.x)[0]).toBeCloseTo(2, 7);
    expect(v(r1.state.count)).toEqual([1]);
    const r2 = runTransform(t, p, r1.state, { x: tf.tensor1d([-1]) });
    expect(v(r2.updates.x)[0]).toBeCloseTo(0.210737, 5);
    expect(v(r2.state.nu.x)[0]).toBeCloseTo(1.998, 6);
    const r3 = runTransform(t, p, r2.state, { x: tf.tensor1d([5]) });
    expect(v(r3.updates.x)[0]).toBeCloseTo(0.4221402, 5);
    expect(v(r3.state.count)).toEqual([3]);
  });

  it('validates options, naming them', () => {
    expect(() => scaleByAdamax({ b1: 1 })).toThrowError(/scaleByAdamax: option 'b1' must be in \[0, 1\)/);
    expect(() => scaleByAdamax({ b2: -0.5 })).toThrowError(/option 'b2'/);
    expect(() => scaleByAdamax({ eps: -1 })).toThrowError(/option 'eps'/);
  });

  it('releases everything but the new state and updates', () => {
    const t = scaleByAdamax();
    let state = t.init(p);
    const g = { x: tf.tensor1d([1]) };
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
