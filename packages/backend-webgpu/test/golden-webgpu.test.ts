import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFusionTarget } from '@emosens/core';
import { describeResult, findGoldenDir, GOLDEN_SUITES, listCaseFiles, loadCase, runCase } from '@emosens/golden';
import { createWgslTarget, lastWebGpuDecline } from '../src/index.js';
import { webgpu } from './webgpu.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const suites = GOLDEN_SUITES.map((suite) => {
  const found = findGoldenDir(repoRoot, suite);
  if ('reason' in found) console.warn(`golden suite ${suite} on webgpu skipped: ${found.reason}`);
  return { suite, cases: 'dir' in found ? listCaseFiles(found.dir).map(loadCase) : [] };
});
const cases = suites.flatMap((s) => s.cases);

// The conformance suite replays every case with a number loss; this replays them with the
// loss handed as a tensor on even steps (copied into the scratch buffer on the device).
describe.skipIf(!webgpu.ok || cases.length === 0)('the golden suite through the WGSL target, the loss a tensor on even steps', () => {
  let unregister: () => void = () => {};
  let runs = 0;
  beforeAll(async () => {
    await tf.setBackend('webgpu');
    const target = createWgslTarget();
    unregister = registerFusionTarget('webgpu', { ...target, run: (step, options) => (runs++, target.run(step, options)) });
  });
  afterAll(async () => {
    unregister();
    await tf.setBackend('cpu');
  });

  for (const loaded of cases) {
    const label = 'golden' in loaded ? loaded.golden.case : path.basename(loaded.file);
    it(`${label}: every step fused, the scalar and calm signal, and the final state`, async () => {
      if (!('golden' in loaded)) throw new Error(`malformed: ${loaded.error}`);
      const before = tf.memory().numTensors;
      const runsBefore = runs;
      const result = await runCase(loaded.golden, { tensorLossOnEvenSteps: true });
      expect(describeResult(result)).toBe(`${loaded.golden.case}: pass`);
      expect(result.steps).toBe(loaded.golden.steps.length);
      expect([...result.paths], `declined: ${lastWebGpuDecline()}`).toEqual(['fused']);
      expect(runs - runsBefore).toBe(loaded.golden.steps.length);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
