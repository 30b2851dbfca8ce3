import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerCpuKernels } from '@emosens/backend-cpu';
import { TransformOptimizer, adam, adamw, emoAiry, emoCats, emoSens } from '../src/index.js';
import { buildModel, countReads, exactBits, gridSamples, leastSquares, stateBits } from './helpers.js';

// With @emosens/backend-cpu's kernels registered, the default 'skip' policy runs every
// step fused (the kernels guard non-finite input themselves) and still skips a bad step
// exactly, with no readback.

let unregister: () => void;
beforeAll(() => {
  unregister = registerCpuKernels();
});
afterAll(() => unregister());

const READY = {
  emoSens: () => emoSens({ lr: 1e-2 }),
  'emoSens (shadow)': () => emoSens({ lr: 1e-2, useShadow: true }),
  emoAiry: () => emoAiry({ lr: 1e-2 }),
  emoCats: () => emoCats({ lr: 1e-2, useShadow: true }),
  adam: () => adam({ lr: 1e-2 }),
  adamw: () => adamw({ lr: 1e-2 }),
} as const;


describe.each(Object.entries(READY))("with registerCpuKernels(), the default 'skip' mode runs %s fused", (_name, make) => {
  it('and skips a NaN or Inf step exactly, reading nothing; later steps match a run that never saw it', async () => {
    const a = leastSquares();
    const b = leastSquares();
    const optA = make();
    const optB = make();
    expect(optA.onNonFinite).toBe('skip');
    const view = (p: typeof a, opt: TransformOptimizer) => ({
      w: exactBits(p.w),
      b: exactBits(p.b),
      state: stateBits(opt.state, { [p.w.name]: 'w', [p.b.name]: 'b' }),
      signals: stateBits(opt.signals),
    });
    const good = () => {
      optA.minimize(a.loss);
      optB.minimize(b.loss);
      expect([optA.path, optB.path]).toEqual(['fused', 'fused']);
    };
    for (let i = 0; i < 3; i++) good();
    const before = view(a, optA);
    const tensors = tf.memory().numTensors;
    expect(await countReads(() => void optA.minimize(a.nanLoss))).toBe(0);
    expect(optA.path).toBe('fused');
    expect(await countReads(() => void optA.minimize(a.infiniteLoss))).toBe(0);
    expect(optA.path).toBe('fused');
    expect(tf.memory().numTensors).toBe(tensors);
    expect(view(a, optA)).toEqual(before);
    expect(optA.readSkippedSteps()).toBe(2);
    expect(optA.iterations).toBe(5);
    for (let i = 0; i < 3; i++) {
      good();
      expect(view(a, optA)).toEqual(view(b, optB));
    }
    expect(optA.readSkippedSteps()).toBe(2);
    expect(optB.readSkippedSteps()).toBe(0);
    optA.dispose();
    optB.dispose();
    a.release();
    b.release();
  });
});



const FIT = { batchSize: 16, shuffle: false, verbose: 0 } as const;

describe('model.fit with registerCpuKernels()', () => {
  it('runs the ready-made emoSens fused in the default mode, and the loss falls', async () => {
    const { xs, ys } = gridSamples();
    const x = tf.tensor2d(xs, [64, 2]);
    const y = tf.tensor2d(ys, [64, 1]);
    const model = buildModel();
    const optimizer = emoSens({ lr: 2e-2 });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const history = await model.fit(x, y, { ...FIT, epochs: 40 });
    const losses = history.history['loss'] as number[];
    expect(optimizer.path).toBe('fused');
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.5);
    expect(optimizer.iterations).toBe(40 * 4);
    expect(optimizer.readSkippedSteps()).toBe(0);
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, y]);
  });

  it('skips a batch with a NaN target exactly: the weights equal a fit without that batch, bit for bit', async () => {
    // with the NaN in batch 2: batches 0, 1, (2 skipped), 3 each epoch
    const bad = gridSamples(2);
    const x = tf.tensor2d(bad.xs, [64, 2]);
    const y = tf.tensor2d(bad.ys, [64, 1]);
    // the same data without batch 2
    const keep = (v: number[], width: number) => [...v.slice(0, 32 * width), ...v.slice(48 * width)];
    const xClean = tf.tensor2d(keep(bad.xs, 2), [48, 2]);
    const yClean = tf.tensor2d(keep(bad.ys, 1), [48, 1]);

    const modelA = buildModel();
    const modelB = buildModel();
    const optA = emoSens({ lr: 2e-2, useShadow: true });
    const optB = emoSens({ lr: 2e-2, useShadow: true });
    modelA.compile({ optimizer: optA, loss: 'meanSquaredError' });
    modelB.compile({ optimizer: optB, loss: 'meanSquaredError' });
    await modelA.fit(x, y, { ...FIT, epochs: 3 });
    await modelB.fit(xClean, yClean, { ...FIT, epochs: 3 });

    expect([optA.path, optB.path]).toEqual(['fused', 'fused']);
    expect(optA.readSkippedSteps()).toBe(3);
    expect(optA.iterations).toBe(3 * 4);
    expect(optB.iterations).toBe(3 * 3);
    const weightsA = modelA.getWeights();
    const weightsB = modelB.getWeights();
    weightsA.forEach((w, i) => expect(exactBits(w)).toEqual(exactBits(weightsB[i]!)));
    expect(stateBits(optA.signals)).toEqual(stateBits(optB.signals));

    [optA, optB].forEach((o) => o.dispose());
    [modelA, modelB].forEach((m) => m.dispose());
    tf.dispose([x, y, xClean, yClean]);
  });
});
