import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { setupBackend } from '../src/backend.js';
import { loadMnist, splitDataset } from '../src/data.js';
import { createInitialWeights } from '../src/model.js';
import { trainRun, type RunResult } from '../src/train.js';

// Without a GPU, Debian's chromium ships SwiftShader, a Vulkan driver on the CPU that
// lets the `webgpu` package find an adapter.
const swiftShader = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (process.env.VK_ICD_FILENAMES === undefined && existsSync(swiftShader)) process.env.VK_ICD_FILENAMES = swiftShader;

const split = splitDataset(loadMnist(), 2000, 3);
const weights = createInitialWeights(3);

async function run(optimizer: 'emosens' | 'adam', syncReads: boolean): Promise<RunResult> {
  return trainRun({
    optimizer,
    steps: 4,
    batchSize: 64,
    seed: 3,
    lr: 1e-3,
    onNonFinite: syncReads ? 'throw' : 'skip',
    train: split.train,
    heldOut: split.heldOut,
    initialWeights: weights,
  });
}

async function reference(): Promise<RunResult[]> {
  await tf.setBackend('cpu');
  return [await run('emosens', true), await run('adam', true)];
}

describe.each(['wasm', 'webgpu'] as const)('the %s backend', (name) => {
  it('trains like the cpu backend (same losses and emotion within float32 noise)', async () => {
    const expected = await reference();
    const setup = await setupBackend(name);
    if (!setup.ok) {
      console.log(`skipped: ${setup.message}`);
      return;
    }
    try {
      // SwiftShader runs WebGPU on the CPU, slowly: check EmoSens (the most kernels) there.
      for (const want of name === 'webgpu' ? expected.slice(0, 1) : expected) {
        const got = await run(want.optimizer as 'emosens' | 'adam', setup.syncReads);
        for (let i = 0; i < want.losses.length; i++) {
          expect(Math.abs(got.losses[i]! - want.losses[i]!)).toBeLessThan(1e-4);
        }
        if (want.optimizer === 'emosens') {
          expect(Math.abs(got.emotion.at(-1)! - want.emotion.at(-1)!)).toBeLessThan(1e-3);
        }
        expect(Math.abs(got.heldOutAccuracy - want.heldOutAccuracy)).toBeLessThanOrEqual(0.002);
      }
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
