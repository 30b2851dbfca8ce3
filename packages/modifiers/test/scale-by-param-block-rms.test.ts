import { chain, type GradientTransformation, type StateValue } from '@emosens/core';
import { scaleByAdafactorRms } from '@emosens/moments';
import { describe, expect, it } from 'vitest';
import { clipByBlockRms, scale, scaleByParamBlockRms } from '../src/index.js';
import { expectClose, expectFusedEqualsComposed, updatesOf } from './optax-helpers.js';

const tx = (t: unknown) => t as GradientTransformation<StateValue>;

describe('scaleByParamBlockRms (optax scale_by_param_block_rms)', () => {
  it('multiplies each update by rms(p), at least minScale', () => {
    // w: rms = sqrt((9 + 16) / 2) = sqrt(12.5); m: rms = sqrt((1 + 4 + 4 + 16 + 0 + 1) / 6) = sqrt(26 / 6)
    const u = updatesOf(tx(scaleByParamBlockRms()), { w: { values: [3, 4], shape: [2] }, m: { values: [1, -2, 2, 4, 0, 1], shape: [2, 3] } }, { w: [0.1, -0.2], m: [1, 0, 0, 0, 0, -1] });
    expectClose(u.w, [0.1 * Math.sqrt(12.5), -0.2 * Math.sqrt(12.5)], 6);
    expectClose(u.m, [Math.sqrt(26 / 6), 0, 0, 0, 0, -Math.sqrt(26 / 6)], 6);
  });

  it('a parameter of rms <= minScale scales by minScale (default 1e-3)', () => {
    const u = updatesOf(tx(scaleByParamBlockRms()), { b: { values: [0, 0], shape: [2] } }, { b: [2, -4] });
    expectClose(u.b, [0.002, -0.004], 9);
    const v = updatesOf(tx(scaleByParamBlockRms({ minScale: 0.5 })), { b: { values: [0.3, 0.4], shape: [2] } }, { b: [2, -4] });
    expectClose(v.b, [1, -2], 6);
  });

  it('refuses a minScale that is not positive, naming it', () => {
    expect(() => scaleByParamBlockRms({ minScale: 0 })).toThrowError(/scaleByParamBlockRms: option 'minScale' must be in \(0, inf\)/);
  });
});

describe('scale (optax scale)', () => {
  it('multiplies by the factor, sign kept', () => {
    const u = updatesOf(tx(scale(-2)), { w: { values: [0, 0], shape: [2] } }, { w: [0.25, -1] });
    expectClose(u.w, [-0.5, 2], 7);
  });

  it('refuses a factor that is not finite', () => {
    expect(() => scale(Number.POSITIVE_INFINITY)).toThrowError(/scale: option 'factor' must be a finite number/);
  });
});

describe('fused on the cpu target equals composed', () => {
  it("Adafactor's chain: factored rms, block clip, scale, param block rms, descent flip", () => {
    expectFusedEqualsComposed(
      () => tx(chain(scaleByAdafactorRms({ minDimSizeToFactor: 2 }), clipByBlockRms(1), scale(0.05), scaleByParamBlockRms(), scale(-1))),
      { w: { values: [0.5, -1, 2, 0.25, -0.75, 1.5], shape: [2, 3] }, b: { values: [0, 0], shape: [2] } },
    );
  });
});
