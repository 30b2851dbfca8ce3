import * as tf from '@tensorflow/tfjs-core';
import { disposeReplaced, runTransform } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { scaleByNadam } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());
const p = { x: tf.zeros([1]) };

describe('scaleByNadam (torch NAdam without lr)', () => {
  it('two steps by hand', () => {
    // Defaults b1 = 0.9, b2 = 0.999, eps = 1e-8, psi = 4e-3; 0.96^psi = exp(psi ln 0.96) = 0.99983673.
    // step 1, u = 2: mu_1 = 0.9 (1 - 0.5 * 0.99983673) = 0.45007347,
    //   mu_2 = 0.9 (1 - 0.5 * 0.96^0.008) = 0.9 (1 - 0.5 * 0.99967347) = 0.45014694,
    //   muProduct = 0.45007347; m = 0.2, v = 0.004, bc2 = 0.001, denom = sqrt(4) + 1e-8 = 2,
    //   torch 1.13: muProductNext = muProduct * mu_1 * mu_2 = 0.45007347^2 * 0.45014694 = 0.09118452,
    //   out = 2 (1 - mu_1) / (1 - muProduct) / 2 + 0.2 mu_2 / (1 - muProductNext) / 2
    //       = 1 + 0.1 * 0.45014694 / 0.90881548 = 1 + 0.04953117 = 1.0495312
    // step 2, u = -1: mu_3 = 0.45022038, muProduct = 0.45007347 * 0.45014694 = 0.20259919,
    //   m = 0.18 - 0.1 = 0.08, v = 0.003996 + 0.001 = 0.004996, bc2 = 0.001999,
    //   denom = sqrt(0.004996 / 0.001999) = 1.5809015,
    //   muProductNext = 0.20259919 * 0.45014694 * 0.45022038 = 0.04105983,
    //   out = -1 (1 - 0.45014694) / 0.79740081 / 1.5809015 + 0.08 * 0.45022038 / 0.95894017 / 1.5809015
    //       = -0.6895567 / 1.5809015 + 0.08 * 0.4694979 / 1.5809015 = -0.4361794 + 0.0237585 = -0.4124209
    const t = scaleByNadam();
    const r1 = runTransform(t, p, t.init(p), { x: tf.tensor1d([2]) });
    expect(v(r1.updates.x)[0]).toBeCloseTo(1.0495312, 5);
    expect(v(r1.state.muProduct)[0]).toBeCloseTo(0.45007347, 6);
    expect(v(r1.state.mu.x)[0]).toBeCloseTo(0.2, 7);
    expect(v(r1.state.nu.x)[0]).toBeCloseTo(0.004, 8);
    expect(v(r1.state.count)).toEqual([1]);
    const r2 = runTransform(t, p, r1.state, { x: tf.tensor1d([-1]) });
    expect(v(r2.updates.x)[0]).toBeCloseTo(-0.4124209, 5);
    expect(v(r2.state.muProduct)[0]).toBeCloseTo(0.20259919, 6);
    expect(v(r2.state.mu.x)[0]).toBeCloseTo(0.08, 7);
    expect(v(r2.state.nu.x)[0]).toBeCloseTo(0.004996, 8);
    expect(v(r2.state.count)).toEqual([2]);
  });

  it('momentumDecay = 0 gives the constant schedule mu_t = b1 / 2', () => {
    // psi = 0: mu_t = mu_next = 0.45, muProduct = 0.45 after one step; u = 2:
    //   out = 1 + 0.1 * 0.45 / (1 - 0.45 * 0.45 * 0.45) = 1 + 0.045 / 0.908875 = 1.0495118
    const t = scaleByNadam({ momentumDecay: 0 });
    const r1 = runTransform(t, p, t.init(p), { x: tf.tensor1d([2]) });
    expect(v(r1.updates.x)[0]).toBeCloseTo(1.0495118, 5);
    expect(v(r1.state.muProduct)[0]).toBeCloseTo(0.45, 7);
  });

  it('validates options, naming them', () => {
    expect(() => scaleByNadam({ b1: 1 })).toThrowError(/scaleByNadam: option 'b1' must be in \[0, 1\)/);
    expect(() => scaleByNadam({ b2: -0.5 })).toThrowError(/option 'b2'/);
    expect(() => scaleByNadam({ eps: -1 })).toThrowError(/option 'eps'/);
    expect(() => scaleByNadam({ momentumDecay: -1 })).toThrowError(/option 'momentumDecay'/);
  });

  it('releases everything but the new state and updates', () => {
    const t = scaleByNadam();
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
