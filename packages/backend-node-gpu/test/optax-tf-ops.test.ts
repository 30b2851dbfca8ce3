import * as tf from '@tensorflow/tfjs-core';
import { chain, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { adaptiveGradClip, scaleByLearningRate, scaleByParamBlockRms, scaleByTrustRatio } from '@emosens/modifiers';
import { ema, scaleByAdafactorRms, scaleByAdam } from '@emosens/moments';
import { adafactor, lamb } from '@emosens/optimizers';
import { describe, expect, it } from 'vitest';
import { BACKENDS, firstMismatch, tensorsAt, useTfOpsTarget } from './helpers.js';

// optax's Adafactor and LAMB and their blocks on the tf-ops target: fused steps agree with the
// composed path (rows, columns and their sums, pow with a negative exponent, per-column selects).

type Tx = GradientTransformation<StateValue>;

/** Ranks 0 to 4; `m` and `t3` factor with minDimSizeToFactor 2; `tall` has more rows than columns. */
const ALL_RANKS: Record<string, number[]> = { s: [], one: [1], v: [5], m: [4, 3], tall: [5, 2], t3: [2, 3, 4], t4: [2, 2, 3, 2] };
/** adaptiveGradClip refuses rank 4 kernels. */
const UP_TO_RANK_3: Record<string, number[]> = { s: [], v: [5], m: [4, 3], row: [1, 4], t3: [2, 3, 4] };

const CASES: [string, () => Tx, Record<string, number[]>][] = [
  ['adafactor()', () => adafactor(), ALL_RANKS],
  ['adafactor factored, lr schedule, momentum, weight decay', () => adafactor({ lr: (t: number) => 0.05 / (1 + t), minDimSizeToFactor: 2, momentum: 0.9, weightDecayRate: 0.01 }), ALL_RANKS],
  ['lamb({ weightDecay, epsRoot })', () => lamb({ lr: 1e-2, weightDecay: 0.05, epsRoot: 1e-4 }), ALL_RANKS],
  ['chain(scaleByAdafactorRms, scaleByTrustRatio, ema, scaleByParamBlockRms)', () => chain(scaleByAdafactorRms({ minDimSizeToFactor: 2 }), scaleByTrustRatio({ minNorm: 0.5, eps: 1e-3 }), ema({ decay: 0.8 }), scaleByParamBlockRms({ minScale: 0.1 }), scaleByLearningRate(1e-2)) as Tx, ALL_RANKS],
  ['chain(adaptiveGradClip, scaleByAdam)', () => chain(adaptiveGradClip({ clipping: 0.05 }), scaleByAdam(), scaleByLearningRate(1e-2)) as Tx, UP_TO_RANK_3],
];

describe.each(BACKENDS)('optax peers on the tf-ops target on the %s backend', (backend) => {
  const target = useTfOpsTarget(backend);

  for (const [name, make, shapes] of CASES) {
    it(`${name}: agrees with the composed path over 8 steps`, () => {
      const init = tensorsAt(shapes, 0);
      const fused = statefulOptimizer(make(), init);
      const composed = statefulOptimizer(make(), init, { fused: false });
      const runs = target.runs;
      for (let t = 0; t < 8; t++) {
        const raw = tensorsAt(shapes, t + 1);
        // large gradients every third step, so the clipping blocks engage on some steps only
        const grads = Object.fromEntries(Object.entries(raw).map(([n, g]) => [n, tf.mul(g, t % 3 === 0 ? 5 : 0.1)]));
        fused.step(grads);
        composed.step(grads);
        tf.dispose([...Object.values(raw), ...Object.values(grads)]);
        expect([fused.path, composed.path]).toEqual(['fused', 'composed']);
      }
      expect(target.runs - runs).toBe(8);
      for (const p of Object.keys(shapes)) expect(firstMismatch(fused.params[p]!.dataSync(), composed.params[p]!.dataSync()), p).toBe(-1);
      fused.dispose();
      composed.dispose();
      tf.dispose(Object.values(init));
    });
  }
});
