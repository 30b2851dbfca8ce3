import * as tf from '@tensorflow/tfjs-core';
import { disposeReplaced, runTransform } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { scaleByAdam } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());
const p = { x: tf.zeros([1]) };

describe('scaleByAdam({ amsgrad: true }) (torch Adam amsgrad=True without lr)', () => {
  it('three steps by hand: the denominator uses the running maximum of v', () => {
    // step 1, u = 2: m = 0.2, v = 0.004, nuMax = 0.004, bc1 = 0.1, sqrt(bc2) = sqrt(0.001) = 0.0316228,
    //   denom = 0.0632456 / 0.0316228 + 1e-8 = 2, out = (0.2 / 0.1) / 2 = 1 (as plain Adam)
    // step 2, u = 0: m = 0.18, v = 0.003996 < nuMax = 0.004 (kept), bc1 = 0.19, sqrt(bc2) = sqrt(0.001999) = 0.0447102,
    //   denom = sqrt(0.004) / 0.0447102 = 1.4145672, out = 0.9473684 / 1.4145672 = 0.6697231
    //   (plain Adam: sqrt(0.003996) / 0.0447102 = 1.4138595, out = 0.6700582)
    // step 3, u = 3: m = 0.162 + 0.3 = 0.462, v = 0.003992004 + 0.009 = 0.012992004 = nuMax,
    //   bc1 = 0.271, sqrt(bc2) = 0.0547449, denom = 0.1139824 / 0.0547449 = 2.0820667,
    //   out = 1.7047970 / 2.0820667 = 0.8188004
    const t = scaleByAdam({ amsgrad: true });
    const r1 = runTransform(t, p, t.init(p), { x: tf.tensor1d([2]) });
    expect(v(r1.updates.x)[0]).toBeCloseTo(1, 6);
    expect(v(r1.state.nuMax?.x)[0]).toBeCloseTo(0.004, 8);
    const r2 = runTransform(t, p, r1.state, { x: tf.tensor1d([0]) });
    expect(v(r2.updates.x)[0]).toBeCloseTo(0.6697231, 5);
    expect(v(r2.state.nu.x)[0]).toBeCloseTo(0.003996, 8);
    expect(v(r2.state.nuMax?.x)[0]).toBeCloseTo(0.004, 8);
    const plain = scaleByAdam();
    const q1 = runTransform(plain, p, plain.init(p), { x: tf.tensor1d([2]) });
    const q2 = runTransform(plain, p, q1.state, { x: tf.tensor1d([0]) });
    expect(v(q2.updates.x)[0]).toBeCloseTo(0.6700582, 5);
    const r3 = runTransform(t, p, r2.state, { x: tf.tensor1d([3]) });
    expect(v(r3.updates.x)[0]).toBeCloseTo(0.8188004, 5);
    expect(v(r3.state.nuMax?.x)[0]).toBeCloseTo(0.012992004, 8);
    expect(v(r3.state.count)).toEqual([3]);
  });

  it('keeps nuMax only when on; off is the unchanged state layout', () => {
    const off = scaleByAdam();
    expect(Object.keys(off.init(p)).sort()).toEqual(['count', 'mu', 'nu']);
    const offFalse = scaleByAdam({ amsgrad: false });
    expect(Object.keys(offFalse.init(p)).sort()).toEqual(['count', 'mu', 'nu']);
    const on = scaleByAdam({ amsgrad: true });
    const s = on.init(p);
    expect(Object.keys(s).sort()).toEqual(['count', 'mu', 'nu', 'nuMax']);
    const r = runTransform(off, p, off.init(p), { x: tf.tensor1d([1]) });
    expect(Object.keys(r.state).sort()).toEqual(['count', 'mu', 'nu']);
  });

  it('without bias correction: out = m / (sqrt(max(nuMax, v)) + eps)', () => {
    // step 1, u = 2: m = 0.2, v = 0.004, out = 0.2 / (0.0632456 + 1e-8) = 3.1622771
    const t = scaleByAdam({ amsgrad: true, biasCorrection: false });
    const r1 = runTransform(t, p, t.init(p), { x: tf.tensor1d([2]) });
    expect(v(r1.updates.x)[0]).toBeCloseTo(3.1622771, 5);
  });

  it('validates the option, naming it', () => {
    expect(() => scaleByAdam({ amsgrad: 1 as unknown as boolean })).toThrowError(/option 'amsgrad'/);
  });

  it('releases everything but the new state and updates', () => {
    const t = scaleByAdam({ amsgrad: true });
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
