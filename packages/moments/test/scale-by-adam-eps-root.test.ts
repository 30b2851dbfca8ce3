import * as tf from '@tensorflow/tfjs-core';
import { runTransform } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { scaleByAdam } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());

describe('scaleByAdam({ epsRoot }) (optax eps_root)', () => {
  it('adds epsRoot inside the root: m_hat / (sqrt(v_hat + epsRoot) + eps)', () => {
    // step 1: m_hat = g, v_hat = g^2: (3 / sqrt(9 + 16), -4 / sqrt(16 + 16)) = (0.6, -0.7071068)
    const t = scaleByAdam({ epsRoot: 16, eps: 0 });
    const p = { x: tf.zeros([2]) };
    const r1 = runTransform(t, p, t.init(p), { x: tf.tensor1d([3, -4]) });
    expect(v(r1.updates.x)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(-4 / Math.sqrt(32), 6)]);
    // step 2, g = (1, 2), float64 reference: m = 0.9 m + 0.1 g, v = 0.999 v + 0.001 g^2, bias-corrected
    const g1 = [3, -4];
    const g2 = [1, 2];
    const expected = g2.map((g, k) => {
      const m = (0.9 * 0.1 * g1[k]! + 0.1 * g) / (1 - 0.9 ** 2);
      const vv = (0.999 * 0.001 * g1[k]! ** 2 + 0.001 * g * g) / (1 - 0.999 ** 2);
      return m / Math.sqrt(vv + 16);
    });
    const r2 = runTransform(t, p, r1.state, { x: tf.tensor1d(g2) });
    expect(v(r2.updates.x)).toEqual(expected.map((x) => expect.closeTo(x, 6)));
  });

  it('without bias correction: m / (sqrt(v + epsRoot) + eps)', () => {
    // m = 0.1 * 3 = 0.3, v = 0.001 * 9 = 0.009: 0.3 / (sqrt(0.009 + 0.001) + 0.01) = 0.3 / 0.11
    const t = scaleByAdam({ epsRoot: 0.001, eps: 0.01, biasCorrection: false });
    const p = { x: tf.zeros([1]) };
    const r = runTransform(t, p, t.init(p), { x: tf.tensor1d([3]) });
    expect(v(r.updates.x)[0]).toBeCloseTo(0.3 / 0.11, 5);
  });

  it('refuses a negative epsRoot, naming it', () => {
    expect(() => scaleByAdam({ epsRoot: -1 })).toThrowError(/scaleByAdam: option 'epsRoot' must be in \[0, inf\)/);
  });
});
