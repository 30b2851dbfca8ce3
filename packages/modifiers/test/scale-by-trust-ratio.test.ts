import { chain, type GradientTransformation, type StateValue } from '@emosens/core';
import { scaleByAdam } from '@emosens/moments';
import { describe, expect, it } from 'vitest';
import { addDecayedWeights, scaleByLearningRate, scaleByTrustRatio } from '../src/index.js';
import { expectClose, expectFusedEqualsComposed, norm, updatesOf } from './optax-helpers.js';

/** optax's scale_by_trust_ratio in float64. */
function reference(u: number[], p: number[], o: { minNorm?: number; trustCoefficient?: number; eps?: number } = {}): number[] {
  const { minNorm = 0, trustCoefficient = 1, eps = 0 } = o;
  const safe = (x: number[]) => (norm(x) <= minNorm ? minNorm : norm(x));
  const pn = safe(p);
  const un = safe(u);
  const ratio = pn === 0 || un === 0 ? 1 : (trustCoefficient * pn) / (un + eps);
  return u.map((x) => x * ratio);
}

const tx = (o?: Parameters<typeof scaleByTrustRatio>[0]) => scaleByTrustRatio(o) as GradientTransformation<StateValue>;

describe('scaleByTrustRatio (optax scale_by_trust_ratio)', () => {
  it('scales each parameter by ||p|| / ||u||', () => {
    // w: ||p|| = 5, ||u|| = 1, ratio 5: (0.6, 0.8) -> (3, 4)
    // m: a [2, 3] matrix, its own ratio (Frobenius norms)
    const m = { values: [0.5, -1, 2, 0, 3, -0.25], shape: [2, 3] };
    const gm = [0.1, 0.2, -0.3, 0.4, 0, 0.05];
    const u = updatesOf(tx(), { w: { values: [3, 4], shape: [2] }, m }, { w: [0.6, 0.8], m: gm });
    expectClose(u.w, [3, 4], 5);
    expectClose(u.m, reference(gm, m.values), 5);
  });

  it('trustCoefficient multiplies the ratio, eps is added to ||u||', () => {
    const p = [1, -2, 2];
    const g = [0.3, 0.1, -0.2];
    const u = updatesOf(tx({ trustCoefficient: 0.5, eps: 0.1 }), { w: { values: p, shape: [3] } }, { w: g });
    // ratio = 0.5 * 3 / (sqrt(0.14) + 0.1)
    expectClose(u.w, reference(g, p, { trustCoefficient: 0.5, eps: 0.1 }), 6);
    expect(u.w![0]).toBeCloseTo((0.3 * 1.5) / (Math.sqrt(0.14) + 0.1), 6);
  });

  it('a zero parameter or a zero update is left as it is (ratio 1)', () => {
    const u = updatesOf(tx(), { b: { values: [0, 0], shape: [2] }, z: { values: [1, 2], shape: [2] } }, { b: [0.25, -0.5], z: [0, 0] });
    expectClose(u.b, [0.25, -0.5], 7);
    expectClose(u.z, [0, 0], 7);
  });

  it('minNorm bounds both norms from below', () => {
    // ||p|| = 0.01 <= 1 -> 1; ||u|| = 5: ratio 0.2
    const u = updatesOf(tx({ minNorm: 1 }), { w: { values: [0.01, 0], shape: [2] } }, { w: [3, 4] });
    expectClose(u.w, [0.6, 0.8], 5);
    // a zero parameter is bounded too, so it is scaled: ||p|| -> 1, ||u|| = 0.5 -> 1, ratio 1
    const z = updatesOf(tx({ minNorm: 1 }), { w: { values: [0, 0], shape: [2] } }, { w: [0.3, 0.4] });
    expectClose(z.w, reference([0.3, 0.4], [0, 0], { minNorm: 1 }), 6);
  });

  it('refuses bad options, naming them', () => {
    expect(() => scaleByTrustRatio({ minNorm: -1 })).toThrowError(/scaleByTrustRatio: option 'minNorm' must be in \[0, inf\)/);
    expect(() => scaleByTrustRatio({ trustCoefficient: Number.NaN })).toThrowError(/option 'trustCoefficient' must be a finite number/);
    expect(() => scaleByTrustRatio({ eps: -0.1 })).toThrowError(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/'eps'/) as string }) as Error);
  });

  it('fused on the cpu target equals composed (LAMB-like chain)', () => {
    expectFusedEqualsComposed(() => chain(scaleByAdam({ eps: 1e-6 }), addDecayedWeights(0.01), scaleByTrustRatio({ trustCoefficient: 0.8 }), scaleByLearningRate(1e-2)) as GradientTransformation<StateValue>, {
      w: { values: [0.5, -1, 2, 0.25, -0.75, 1.5], shape: [2, 3] },
      b: { values: [0, 0], shape: [2] },
    });
    expectFusedEqualsComposed(() => chain(scaleByAdam(), scaleByTrustRatio({ minNorm: 0.5, eps: 1e-3 }), scaleByLearningRate(1e-2)) as GradientTransformation<StateValue>, {
      w: { values: [0.05, -0.1, 0.02, 0.025], shape: [2, 2] },
      b: { values: [1, 0.5], shape: [2] },
    });
  });
});
