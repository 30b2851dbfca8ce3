import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { describeResult, findGoldenDir, listCaseFiles, loadCase, runCase } from '@emosens/golden';
import { lastWebGpuDecline } from '../src/index.js';
import { useWebGpuKernels, webgpu } from './webgpu.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const found = findGoldenDir(repoRoot);
if ('reason' in found) console.warn(`golden suite on webgpu skipped: ${found.reason}`);
const cases = 'dir' in found ? listCaseFiles(found.dir).map(loadCase) : [];

describe.skipIf(!webgpu.ok || 'reason' in found)('the golden suite on the webgpu backend', () => {
  useWebGpuKernels();

  for (const loaded of cases) {
    const label = 'golden' in loaded ? loaded.golden.case : path.basename(loaded.file);
    for (const fused of [false, true]) {
      it(`${label}, ${fused ? 'fused' : 'composed'}: every step, the scalar and calm signal, and the final state`, async () => {
        if (!('golden' in loaded)) throw new Error(`malformed: ${loaded.error}`);
        const before = tf.memory().numTensors;
        const result = await runCase(loaded.golden, { fused, tensorLossOnEvenSteps: true });
        expect(describeResult(result)).toBe(`${loaded.golden.case}: pass`);
        expect(result.steps).toBe(loaded.golden.steps.length);
        expect([...result.paths], fused ? `declined: ${lastWebGpuDecline()}` : '').toEqual([fused ? 'fused' : 'composed']);
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  }
});
