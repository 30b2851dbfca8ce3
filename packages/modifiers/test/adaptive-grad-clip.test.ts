import * as tf from '@tensorflow/tfjs-core';
import { chain, type GradientTransformation, type StateValue } from '@emosens/core';
import { scaleByAdam } from '@emosens/moments';
import { describe, expect, it } from 'vitest';
import { adaptiveGradClip, scaleByLearningRate } from '../src/index.js';
import { expectClose, expectFusedEqualsComposed, norm, updatesOf } from './optax-helpers.js';

/** optax's adaptive_grad_clip in float64 for one unit (a list of entries). */
function clipUnit(u: number[], p: number[], clipping: number, eps = 1e-3): number[] {
  const gn = norm(u);
  const maxNorm = clipping * Math.max(norm(p), eps);
  return gn < maxNorm ? u : u.map((x) => x * (maxNorm / Math.max(gn, 1e-6)));
}

/** Per column (over axis 0) of a [rows, cols] row-major matrix. */
function clipColumns(u: number[], p: number[], rows: number, cols: number, clipping: number, eps?: number): number[] {
  const out = [...u];
  for (let j = 0; j < cols; j++) {
    const idx = Array.from({ length: rows }, (_, i) => i * cols + j);
    const c = clipUnit(idx.map((k) => u[k]!), idx.map((k) => p[k]!), clipping, eps);
    idx.forEach((k, i) => (out[k] = c[i]!));
  }
  return out;
}

const tx = (o: Parameters<typeof adaptiveGradClip>[0]) => adaptiveGradClip(o) as GradientTransformation<StateValue>;

describe('adaptiveGradClip (optax adaptive_grad_clip, Brock et al. 2021)', () => {
  it('a vector is one unit: clipped to clipping * ||p||', () => {
    // ||p|| = 5, maxNorm = 0.5; u = (3, 4) has norm 5: u * 0.5 / 5 = (0.3, 0.4)
    const u = updatesOf(tx({ clipping: 0.1 }), { w: { values: [3, 4], shape: [2] } }, { w: [3, 4] });
    expectClose(u.w, [0.3, 0.4], 6);
    // a small update (norm 0.05 < 0.5) passes unchanged
    const small = updatesOf(tx({ clipping: 0.1 }), { w: { values: [3, 4], shape: [2] } }, { w: [0.03, 0.04] });
    expectClose(small.w, [0.03, 0.04], 7);
  });

  it('a Dense kernel [in, out] has one unit per output column (norms over axis 0)', () => {
    // columns of p: (1, 0, 2) norm sqrt(5); (0, 3, 4) norm 5. clipping 0.2: maxNorm 0.447, 1
    // column 0 of u: (1, 1, 1), norm 1.73 > 0.447 -> clipped; column 1: (0.1, 0.2, 0.2), norm 0.3 < 1 -> kept
    const p = [1, 0, 0, 3, 2, 4];
    const g = [1, 0.1, 1, 0.2, 1, 0.2];
    const u = updatesOf(tx({ clipping: 0.2 }), { k: { values: p, shape: [3, 2] } }, { k: g });
    const expected = clipColumns(g, p, 3, 2, 0.2);
    expectClose(u.k, expected, 6);
    expect(expected[0]).toBeCloseTo(0.2 * Math.sqrt(5) / Math.sqrt(3), 12);
    expect(expected[1]).toBe(0.1);
  });

  it('rank 3 has one unit per (d1, d2) slice, over axis 0; [1, n] is one unit (size-1 axes squeezed)', () => {
    const p = Array.from({ length: 12 }, (_, k) => Math.cos(k));
    const g = Array.from({ length: 12 }, (_, k) => (k % 3) * Math.sin(k));
    const u = updatesOf(tx({ clipping: 0.3 }), { h: { values: p, shape: [2, 2, 3] } }, { h: g });
    expectClose(u.h, clipColumns(g, p, 2, 6, 0.3), 6);
    const row = updatesOf(tx({ clipping: 0.3 }), { r: { values: [3, 4, 0], shape: [1, 3] } }, { r: [3, 0, 4] });
    expectClose(row.r, clipUnit([3, 0, 4], [3, 4, 0], 0.3), 6);
  });

  it('eps keeps a zero parameter from clipping its update to 0: maxNorm = clipping * eps', () => {
    // ||p|| = 0 -> max(0, 0.01) = 0.01, maxNorm = 0.5 * 0.01 = 0.005; u = (3, 4) -> (0.003, 0.004)
    const u = updatesOf(tx({ clipping: 0.5, eps: 0.01 }), { b: { values: [0, 0], shape: [2] } }, { b: [3, 4] });
    expectClose(u.b, [0.003, 0.004], 8);
    // default eps 1e-3: maxNorm = 5e-4
    const d = updatesOf(tx({ clipping: 0.5 }), { b: { values: [0, 0], shape: [2] } }, { b: [3, 4] });
    expectClose(d.b, [0.0003, 0.0004], 9);
  });

  it('refuses conv kernels (rank 4 and 5 with more than one non-unit axis) at init, naming the parameter', () => {
    const t = adaptiveGradClip({ clipping: 0.1 });
    const conv = { conv: tf.zeros([3, 3, 2, 4]) };
    expect(() => t.init(conv)).toThrowError(/adaptiveGradClip: parameter 'conv' has shape \[3, 3, 2, 4\]; unit-wise norms are supported for rank <= 3/);
    expect(() => t.init(conv)).toThrowError(expect.objectContaining({ code: 'INVALID_OPTION' }) as Error);
    // a rank-4 tensor that squeezes to a vector is one unit, as in optax
    const vec = { v: tf.zeros([1, 1, 1, 4]) };
    expect(t.init(vec)).toEqual({});
    tf.dispose([...Object.values(conv), ...Object.values(vec)]);
  });

  it('refuses bad options, naming them', () => {
    expect(() => adaptiveGradClip({ clipping: 0 })).toThrowError(/adaptiveGradClip: option 'clipping' must be in \(0, inf\)/);
    expect(() => adaptiveGradClip({} as { clipping: number })).toThrowError(/option 'clipping' must be a finite number, got undefined/);
    expect(() => adaptiveGradClip({ clipping: 1, eps: -1 })).toThrowError(/option 'eps' must be in \[0, inf\)/);
    expect(() => adaptiveGradClip(undefined as unknown as { clipping: number })).toThrowError(expect.objectContaining({ code: 'INVALID_OPTION' }) as Error);
  });

  it('fused on the cpu target equals composed', () => {
    expectFusedEqualsComposed(() => chain(adaptiveGradClip({ clipping: 0.05 }), scaleByAdam(), scaleByLearningRate(1e-2)) as GradientTransformation<StateValue>, {
      k: { values: [0.5, -1, 2, 0.25, -0.75, 1.5], shape: [3, 2] },
      h: { values: Array.from({ length: 12 }, (_, i) => Math.cos(i)), shape: [2, 2, 3] },
      b: { values: [0, 0.1], shape: [2] },
    });
  });
});
