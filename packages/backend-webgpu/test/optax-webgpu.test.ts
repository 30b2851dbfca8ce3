import * as tf from '@tensorflow/tfjs-core';
import { chain, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { adaptiveGradClip, scaleByLearningRate, scaleByParamBlockRms, scaleByTrustRatio } from '@emosens/modifiers';
import { ema, scaleByAdafactorRms, scaleByAdam } from '@emosens/moments';
import { adafactor, lamb } from '@emosens/optimizers';
import { describe, expect, it } from 'vitest';
import { lastWebGpuDecline } from '../src/index.js';
import { useWebGpuKernels, webgpu } from './webgpu.js';

// optax's Adafactor and LAMB and their blocks on the WGSL target: fused steps agree with the
// composed ops on webgpu (pow with a negative exponent, sums over rows and columns, selects on
// per-parameter and per-column values).

type Tx = GradientTransformation<StateValue>;

/** Ranks 0 to 4; `w` factors with minDimSizeToFactor 2 and is larger than a workgroup; `t` has more rows than columns. */
const ALL_RANKS: Record<string, number[]> = { w: [67, 45], t: [9, 4], b: [45], k: [3, 2, 4], q: [2, 3, 2, 2], one: [1], s: [] };
/** adaptiveGradClip refuses rank 4 kernels. */
const UP_TO_RANK_3: Record<string, number[]> = { w: [67, 45], b: [45], k: [3, 2, 4], row: [1, 5], s: [] };

const CASES: [string, () => Tx, Record<string, number[]>][] = [
  ['adafactor()', () => adafactor(), ALL_RANKS],
  ['adafactor factored, lr schedule, momentum, weight decay', () => adafactor({ lr: (t: number) => 0.05 / (1 + t), minDimSizeToFactor: 2, momentum: 0.9, weightDecayRate: 0.01 }), ALL_RANKS],
  ['lamb()', () => lamb({ lr: 1e-2 }), ALL_RANKS],
  ['lamb({ weightDecay, epsRoot })', () => lamb({ lr: 1e-2, weightDecay: 0.05, epsRoot: 1e-4 }), ALL_RANKS],
  ['chain(scaleByAdafactorRms, scaleByTrustRatio({ minNorm, eps }), ema, scaleByParamBlockRms)', () => chain(scaleByAdafactorRms({ minDimSizeToFactor: 3 }), scaleByTrustRatio({ minNorm: 0.5, eps: 1e-3, trustCoefficient: 0.3 }), ema({ decay: 0.8 }), scaleByParamBlockRms({ minScale: 0.1 }), scaleByLearningRate(1e-2)) as Tx, ALL_RANKS],
  ['chain(adaptiveGradClip, scaleByAdam({ epsRoot }))', () => chain(adaptiveGradClip({ clipping: 0.05 }), scaleByAdam({ epsRoot: 1e-6 }), scaleByLearningRate(1e-2)) as Tx, UP_TO_RANK_3],
];

/** Deterministic values in [-1, 1), with zeros now and then (zero norms, zero units). */
function values(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out[i] = i % 13 === 5 ? 0 : (x / 2147483648) * 2 - 1;
  }
  return out;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, rtol = 1e-4, atol = 1e-6) {
  expect(actual.length, label).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    if (!(Math.abs(actual[i]! - e) <= atol + rtol * Math.abs(e))) throw new Error(`${label}[${i}]: expected ${e}, got ${actual[i]}`);
  }
}

describe.skipIf(!webgpu.ok)('optax peers on the WGSL fusion target', () => {
  useWebGpuKernels();

  for (const [name, make, shapes] of CASES) {
    it(`${name}: fused agrees with the composed ops on webgpu over 8 steps`, async () => {
      const init = Object.fromEntries(Object.entries(shapes).map(([n, shape], i) => [n, tf.tensor(values(tf.util.sizeFromShape(shape), i + 1), shape)]));
      const fused = statefulOptimizer(make(), init);
      const composed = statefulOptimizer(make(), init, { fused: false });
      for (let t = 0; t < 8; t++) {
        // large gradients every third step, so the clipping blocks engage on some steps only
        const scale = t % 3 === 0 ? 5 : 0.1;
        const grads = Object.fromEntries(
          Object.entries(shapes).map(([n, shape], i) => [n, tf.mul(tf.tensor(values(tf.util.sizeFromShape(shape), 100 * t + i + 7), shape), scale)]),
        );
        fused.step(grads);
        composed.step(grads);
        expect(fused.path, lastWebGpuDecline()).toBe('fused');
        expect(composed.path).toBe('composed');
        tf.dispose(Object.values(grads));
      }
      for (const p of Object.keys(shapes)) expectClose(await fused.params[p]!.data(), await composed.params[p]!.data(), `${name} ${p}`);
      fused.dispose();
      composed.dispose();
      tf.dispose(Object.values(init));
    });
  }
});
