import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { describeResult, findGoldenDir, listCaseFiles, loadCase, runCase } from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const found = findGoldenDir(repoRoot);
const REQUIRED = [
  'emosens', 'emosens-shadow', 'emoairy', 'emoairy-shadow', 'emocats',
  'emocats-shadow-decoupled', 'emosens-calm', 'emocats-calm', 'adam', 'adamw',
];

if ('reason' in found) console.warn(`golden suite skipped: ${found.reason}`);

describe.skipIf('reason' in found)('golden trajectories of the PyTorch reference', () => {
  const dir = 'dir' in found ? found.dir : '';
  const files = 'dir' in found ? listCaseFiles(dir) : [];
  const cases = files.map(loadCase);

  it('has every required case', () => {
    const names = cases.map((c) => ('golden' in c ? c.golden.case : c.file));
    for (const required of REQUIRED) expect(names).toContain(required);
  });

  for (const loaded of cases) {
    const label = 'golden' in loaded ? loaded.golden.case : path.basename(loaded.file);
    it(`${label}: every step's parameters, scalar and calm signal, and the final state`, async () => {
      if (!('golden' in loaded)) throw new Error(`malformed: ${loaded.error}`);
      const before = tf.memory().numTensors;
      const result = await runCase(loaded.golden);
      expect(describeResult(result)).toBe(`${loaded.golden.case}: pass`);
      expect(result.steps).toBe(loaded.golden.steps.length);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
