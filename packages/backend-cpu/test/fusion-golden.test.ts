import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFusionTarget } from '@emosens/core';
import { describeResult, familyOf, findGoldenDir, listCaseFiles, loadCase, optimizerFor, runCase } from '@emosens/golden';
import { cpuMemory, createTypedArrayTarget } from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const found = findGoldenDir(repoRoot);

describe.skipIf('reason' in found).each(['fast', 'exact'] as const)('golden trajectories on the typed-array fusion target (%s)', (precision) => {
  let unregister: () => void = () => {};
  let runs = 0;
  beforeAll(() => {
    const target = createTypedArrayTarget(cpuMemory(), { precision });
    unregister = registerFusionTarget('cpu', { ...target, run: (step, o) => (runs++, target.run(step, o)) });
  });
  afterAll(() => unregister());
  const dir = 'dir' in found ? found.dir : '';
  const cases = 'dir' in found ? listCaseFiles(dir).map(loadCase) : [];
  for (const loaded of cases) {
    const label = 'golden' in loaded ? loaded.golden.case : path.basename(loaded.file);
    it(`${label}`, async () => {
      if (!('golden' in loaded)) throw new Error(`malformed: ${loaded.error}`);
      const golden = loaded.golden;
      const transform = optimizerFor(familyOf(golden.case), golden.hyper ?? {});
      const before = tf.memory().numTensors;
      const runsBefore = runs;
      const result = await runCase(golden, { transform });
      expect(runs - runsBefore).toBe(golden.steps.length);
      expect(describeResult(result)).toBe(`${golden.case}: pass`);
      expect([...result.paths]).toEqual(['fused']);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
