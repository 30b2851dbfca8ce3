import * as tf from '@tensorflow/tfjs-core';
import { disposeReplaced, runTransform } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { scaleByRadam } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());
const p = { x: tf.zeros([1]) };

describe('scaleByRadam (torch RAdam without lr)', () => {
  it('the momentum steps while rho_t <= 5, then the rectified step', () => {
    // Defaults b1 = 0.9, b2 = 0.999, eps = 1e-8; rho_inf = 2 / 0.001 - 1 = 1999.
    // step 1, u = 2: m = 0.2, v = 0.004, rho_1 = 1999 - 2 * 0.999 / 0.001 = 1 <= 5,
    //   out = m / bc1 = 0.2 / 0.1 = 2
    // step 2, u = -1: m = 0.18 - 0.1 = 0.08, v = 0.004996, rho_2 = 1999 - 4 * 0.998001 / 0.001999 = 1.9995,
    //   out = 0.08 / 0.19 = 0.4210526
    // steps 3..5, u = 1: m = 0.172, 0.2548, 0.32932; rho = 2.9987, 3.9975, 4.9960 (still <= 5),
    //   out at step 5 = 0.32932 / (1 - 0.9^5) = 0.32932 / 0.40951 = 0.8041806
    // step 6, u = 1: m = 0.396388, v = 0.00897005, bc1 = 0.468559, bc2 = 0.00598502,
    //   rho_6 = 1999 - 12 * 0.99401498 / 0.00598502 = 5.9941638 > 5,
    //   rect = sqrt(1.9941638 * 3.9941638 * 1999 / (1995 * 1997 * 5.9941638)) = 0.0258211,
    //   out = (0.396388 / 0.468559) * sqrt(0.00598502) / (sqrt(0.00897005) + 1e-8) * 0.0258211
    //       = 0.8459725 * 0.0773629 / 0.0947104 * 0.0258211 = 0.0178429
    const t = scaleByRadam();
    const r1 = runTransform(t, p, t.init(p), { x: tf.tensor1d([2]) });
    expect(v(r1.updates.x)[0]).toBeCloseTo(2, 5);
    expect(v(r1.state.mu.x)[0]).toBeCloseTo(0.2, 7);
    expect(v(r1.state.nu.x)[0]).toBeCloseTo(0.004, 8);
    expect(v(r1.state.count)).toEqual([1]);
    const r2 = runTransform(t, p, r1.state, { x: tf.tensor1d([-1]) });
    expect(v(r2.updates.x)[0]).toBeCloseTo(0.4210526, 5);
    expect(v(r2.state.nu.x)[0]).toBeCloseTo(0.004996, 8);
    let state = r2.state;
    let out = 0;
    for (let step = 3; step <= 6; step++) {
      const r = runTransform(t, p, state, { x: tf.tensor1d([1]) });
      state = r.state;
      out = v(r.updates.x)[0]!;
      if (step === 5) expect(out).toBeCloseTo(0.8041806, 5);
    }
    expect(v(state.count)).toEqual([6]);
    expect(out).toBeCloseTo(0.0178429, 4);
  });

  it('validates options, naming them', () => {
    expect(() => scaleByRadam({ b1: 1 })).toThrowError(/scaleByRadam: option 'b1' must be in \[0, 1\)/);
    expect(() => scaleByRadam({ b2: -0.5 })).toThrowError(/option 'b2'/);
    expect(() => scaleByRadam({ eps: -1 })).toThrowError(/option 'eps'/);
  });

  it('releases everything but the new state and updates', () => {
    const t = scaleByRadam();
    let state = t.init(p);
    const g = { x: tf.tensor1d([1]) };
    const before = tf.memory().numTensors;
    for (let i = 0; i < 7; i++) {
      const r = runTransform(t, p, state, g);
      disposeReplaced(state, r.state);
      state = r.state;
      expect(tf.memory().numTensors).toBe(before + 1);
      r.updates.x!.dispose();
    }
  });
});
