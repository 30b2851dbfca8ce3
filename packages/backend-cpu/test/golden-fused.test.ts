import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFusedKernel, type FusedKernel } from '@emosens/core';
import { describeResult, familyOf, findGoldenDir, listCaseFiles, loadCase, optimizerFor, runCase } from '@emosens/golden';
import { cpuKernelConfigs } from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const found = findGoldenDir(repoRoot);
if ('reason' in found) console.warn(`golden suite on the fused cpu kernels skipped: ${found.reason}`);

describe.skipIf('reason' in found).each(['fast', 'exact'] as const)('golden trajectories on the fused cpu kernels (%s)', (precision) => {
  /** Fused steps run per kernel key, counted by wrapping each registered kernel. */
  const calls = new Map<string, number>();
  let unregister: (() => void)[] = [];
  beforeAll(() => {
    unregister = cpuKernelConfigs({ precision }).map(({ key, backendName, kernel }) => {
      const counted: FusedKernel = {
        ...kernel,
        step: (args) => {
          calls.set(key, (calls.get(key) ?? 0) + 1);
          return kernel.step(args);
        },
      };
      return registerFusedKernel(key, backendName, counted);
    });
  });
  afterAll(() => unregister.forEach((u) => u()));

  const dir = 'dir' in found ? found.dir : '';
  const cases = 'dir' in found ? listCaseFiles(dir).map(loadCase) : [];

  it('finds the recordings', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
  });

  for (const loaded of cases) {
    const label = 'golden' in loaded ? loaded.golden.case : path.basename(loaded.file);
    it(`${label}: every step on the fused path matches the reference`, async () => {
      if (!('golden' in loaded)) throw new Error(`malformed: ${loaded.error}`);
      const golden = loaded.golden;
      const transform = optimizerFor(familyOf(golden.case), golden.hyper ?? {});
      const key = transform.fused?.key;
      expect(key).toBeDefined();
      const before = tf.memory().numTensors;
      const callsBefore = calls.get(key!) ?? 0;
      const result = await runCase(golden, { transform });
      expect(describeResult(result)).toBe(`${golden.case}: pass`);
      expect(result.steps).toBe(golden.steps.length);
      expect([...result.paths]).toEqual(['fused']);
      // every step of the case ran on the fused kernel
      expect((calls.get(key!) ?? 0) - callsBefore).toBe(golden.steps.length);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
