import * as tf from '@tensorflow/tfjs-core';
import { EmosensError } from '@emosens/core';
import { describeResult, runCase } from '@emosens/golden';
import { describe, expect, it } from 'vitest';
import { loadNodeGpu, NODE_GPU_BACKEND, nodeGpuStatus, registerNodeGpuKernels } from '../src/index.js';
import { golden } from './golden-cases.js';

const status = await nodeGpuStatus();
if (!status.available) console.warn(`tfjs-node-gpu tests skipped: ${status.reason}`);

describe('loadNodeGpu', () => {
  it.skipIf(status.available)('rejects with an EmosensError that says how to install it when absent', async () => {
    const error = await loadNodeGpu().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EmosensError);
    expect((error as EmosensError).code).toBe('MISSING_DEPENDENCY');
    expect((error as Error).message).toMatch(/@tensorflow\/tfjs-node-gpu is (not installed; npm i @tensorflow\/tfjs-node-gpu|installed but could not be loaded)/);
  });

  it.skipIf(!status.available || golden.reason !== undefined)('runs the golden suite on the tensorflow backend, fused and composed', async () => {
    await loadNodeGpu();
    const previous = tf.getBackend();
    expect(await tf.setBackend(NODE_GPU_BACKEND)).toBe(true);
    try {
      for (const fused of [false, true]) {
        const unregister = fused ? registerNodeGpuKernels() : () => {};
        try {
          for (const loaded of golden.cases) {
            if (!('golden' in loaded)) throw new Error(`malformed: ${loaded.error}`);
            const result = await runCase(loaded.golden, { fused });
            expect(describeResult(result)).toBe(`${loaded.golden.case}: pass`);
            expect([...result.paths]).toEqual([fused ? 'fused' : 'composed']);
          }
        } finally {
          unregister();
        }
      }
    } finally {
      await tf.setBackend(previous);
    }
  });
});
