import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { chain, explainFusion, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { scaleByLearningRate } from '@emosens/modifiers';
import { ema, scaleByAdafactorRms, scaleByAdagrad, scaleByAdam, scaleByAdamax, scaleByNadam, scaleByRadam, scaleByRms, trace } from '@emosens/moments';
import { registerCpuKernels } from '../src/index.js';

// The torch-peer moment blocks of @emosens/moments fuse on the typed-array target, and the fused
// step ('exact' precision) gives the composed step's parameters bit for bit. (This test lives here,
// not in @emosens/moments: that package cannot depend on this one, which depends on it.)

let unregister: (() => void) | undefined;
afterEach(() => {
  unregister?.();
  unregister = undefined;
});

const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));

const blocks: [string, () => GradientTransformation<StateValue>, number?][] = [
  ['trace', () => trace({ decay: 0.9 }) as unknown as GradientTransformation<StateValue>],
  ['trace nesterov', () => trace({ decay: 0.9, nesterov: true }) as unknown as GradientTransformation<StateValue>],
  ['trace dampening', () => trace({ decay: 0.8, dampening: 0.3 }) as unknown as GradientTransformation<StateValue>],
  ['scaleByRms', () => scaleByRms() as unknown as GradientTransformation<StateValue>],
  ['scaleByRms centered', () => scaleByRms({ alpha: 0.9, centered: true, initialScale: 0.5 }) as unknown as GradientTransformation<StateValue>],
  ['scaleByAdagrad', () => scaleByAdagrad({ initialAccumulatorValue: 0.1 }) as unknown as GradientTransformation<StateValue>],
  ['scaleByAdamax', () => scaleByAdamax() as unknown as GradientTransformation<StateValue>],
  ['scaleByAdam amsgrad', () => scaleByAdam({ amsgrad: true }) as unknown as GradientTransformation<StateValue>],
  ['scaleByAdam amsgrad, no bias correction', () => scaleByAdam({ amsgrad: true, biasCorrection: false }) as unknown as GradientTransformation<StateValue>],
  ['scaleByAdam epsRoot', () => scaleByAdam({ epsRoot: 1e-4, eps: 1e-6 }) as unknown as GradientTransformation<StateValue>],
  ['scaleByAdam epsRoot, no bias correction', () => scaleByAdam({ epsRoot: 1e-4, biasCorrection: false }) as unknown as GradientTransformation<StateValue>],
  ['scaleByNadam', () => scaleByNadam() as unknown as GradientTransformation<StateValue>],
  ['scaleByNadam momentumDecay', () => scaleByNadam({ b1: 0.8, momentumDecay: 0.05 }) as unknown as GradientTransformation<StateValue>],
  // With b2 = 0.999 or 0.99, rho_t <= 5 for steps 1-5 (the momentum branch) and > 5 from step 6 (rectified): 8 steps take both.
  ['scaleByRadam', () => scaleByRadam() as unknown as GradientTransformation<StateValue>, 8],
  ['scaleByRadam b2 = 0.99', () => scaleByRadam({ b1: 0.8, b2: 0.99, eps: 1e-3 }) as unknown as GradientTransformation<StateValue>, 8],
  ['ema', () => ema({ decay: 0.9 }) as unknown as GradientTransformation<StateValue>],
  ['ema debias: false', () => ema({ decay: 0.8, debias: false }) as unknown as GradientTransformation<StateValue>],
  // Adafactor's second moment: w [2, 3] kept whole (default minDimSizeToFactor 128), then factored (2).
  ['scaleByAdafactorRms', () => scaleByAdafactorRms() as unknown as GradientTransformation<StateValue>],
  ['scaleByAdafactorRms factored', () => scaleByAdafactorRms({ minDimSizeToFactor: 2, decayRate: 0.6 }) as unknown as GradientTransformation<StateValue>, 6],
  ['scaleByAdafactorRms stepOffset', () => scaleByAdafactorRms({ minDimSizeToFactor: 2, stepOffset: 2 }) as unknown as GradientTransformation<StateValue>, 5],
];

function run(block: () => GradientTransformation<StateValue>, fused: boolean, steps: number) {
  const tx = chain(block(), scaleByLearningRate(0.1));
  const params = { w: tf.tensor2d([[0.5, -1, 2], [0, 3, -0.25]]), b: tf.tensor1d([1, -2]) };
  const opt = statefulOptimizer(tx, params, { fused });
  const paths: (string | undefined)[] = [];
  for (let i = 0; i < steps; i++) {
    const g = {
      w: tf.tensor2d([[0.3 * i - 1, 2, -0.7], [1.5, -0.1 * i, 4]]),
      b: tf.tensor1d([i % 2 === 0 ? 0.5 : -3, 0.01 * (i + 1)]),
    };
    opt.step(g);
    paths.push(opt.path);
    tf.dispose(Object.values(g));
  }
  const out = { w: bits(opt.params.w!), b: bits(opt.params.b!), paths, moved: bits(opt.params.w!).some((x, k) => x !== bits(params.w)[k]) };
  opt.dispose();
  tf.dispose(Object.values(params));
  return out;
}

describe('the moment catalog (trace, scaleByRms, scaleByAdagrad, scaleByAdamax, scaleByAdam amsgrad, scaleByNadam, scaleByRadam, ema, scaleByAdafactorRms) on the cpu target', () => {
  for (const [label, block, steps = 4] of blocks) {
    it(`${label}: fuses, and the fused steps equal the composed ones bit for bit`, () => {
      const composed = run(block, false, steps);
      expect(composed.paths).toEqual(Array<string>(steps).fill('composed'));
      expect(composed.moved).toBe(true);
      unregister = registerCpuKernels({ precision: 'exact' });
      expect(explainFusion(chain(block(), scaleByLearningRate(0.1)), 'cpu')).toEqual({ fused: true, target: 'typed-array' });
      const fused = run(block, true, steps);
      expect(fused.paths).toEqual(Array<string>(steps).fill('fused'));
      expect(fused.w).toEqual(composed.w);
      expect(fused.b).toEqual(composed.b);
    });
  }
});

describe('scaleByAdafactorRms on the cpu target: more rows than columns, rank 3', () => {
  for (const shape of [
    [3, 2],
    [2, 2, 3],
  ]) {
    it(`[${shape.join(', ')}] factored: fused steps equal composed ones bit for bit`, () => {
      const size = shape.reduce((a, b) => a * b, 1);
      const make = () => chain(scaleByAdafactorRms({ minDimSizeToFactor: 2 }), scaleByLearningRate(0.1));
      const go = (fused: boolean) => {
        const params = { w: tf.tensor(Array.from({ length: size }, (_, k) => Math.cos(k)), shape) };
        const opt = statefulOptimizer(make(), params, { fused });
        for (let t = 0; t < 5; t++) {
          const g = { w: tf.tensor(Array.from({ length: size }, (_, k) => Math.sin(k * 1.7 + t) * (k % 4 === 1 ? 0 : 1 + k)), shape) };
          opt.step(g);
          g.w.dispose();
        }
        const out = { w: bits(opt.params.w!), path: opt.path };
        opt.dispose();
        params.w.dispose();
        return out;
      };
      const composed = go(false);
      unregister = registerCpuKernels({ precision: 'exact' });
      const fused = go(true);
      expect([composed.path, fused.path]).toEqual(['composed', 'fused']);
      expect(fused.w).toEqual(composed.w);
    });
  }
});
