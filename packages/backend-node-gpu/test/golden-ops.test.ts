import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { registerFusedKernel } from '@emosens/core';
import { describeResult, runCase } from '@emosens/golden';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeGpuKernel, FUSED_KEYS } from '../src/index.js';
import { golden } from './golden-cases.js';

// The CUDA kernels are plain tf ops: registered on the cpu backend, the golden suite
// proves their math here, where tfjs-node-gpu cannot be installed.
describe.skipIf(golden.reason !== undefined)('the golden suite through the tfjs-node-gpu kernels, on the cpu backend', () => {
  const calls = new Map<string, number>();
  const unregister: (() => void)[] = [];
  beforeAll(() => {
    for (const key of FUSED_KEYS) {
      const kernel = createNodeGpuKernel(key, 'cpu');
      unregister.push(
        registerFusedKernel(key, 'cpu', {
          ...kernel,
          step: (args) => {
            calls.set(key, (calls.get(key) ?? 0) + 1);
            return kernel.step(args);
          },
        }),
      );
    }
  });
  afterAll(() => unregister.forEach((u) => u()));

  for (const loaded of golden.cases) {
    const label = 'golden' in loaded ? loaded.golden.case : path.basename(loaded.file);
    it(`${label}: every step, the scalar and calm signal, and the final state, on the fused path`, async () => {
      if (!('golden' in loaded)) throw new Error(`malformed: ${loaded.error}`);
      const key = { emosens: 'emoSens', emoairy: 'emoAiry', emocats: 'emoCats', adam: 'adamw', adamw: 'adamw' }[loaded.golden.case.split('-')[0]!]!;
      const before = tf.memory().numTensors;
      const callsBefore = calls.get(key) ?? 0;
      const result = await runCase(loaded.golden);
      expect(describeResult(result)).toBe(`${loaded.golden.case}: pass`);
      expect((calls.get(key) ?? 0) - callsBefore).toBe(loaded.golden.steps.length);
      expect([...result.paths]).toEqual(['fused']);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
