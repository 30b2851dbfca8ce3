import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { describeResult, findGoldenDir, listCaseFiles, loadCase, runCase } from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const REQUIRED: Record<string, readonly string[]> = {
  'emo-v2': [
    'emosens', 'emosens-shadow', 'emoairy', 'emoairy-shadow', 'emocats',
    'emocats-shadow-decoupled', 'emosens-calm', 'emocats-calm', 'adam', 'adamw',
  ],
  'emo-v3': [
    'emosens-v3', 'emosens-v3-shadow', 'emoairy-v3', 'emoairy-v3-shadow', 'emocats-v3', 'emocats-v3-shadow',
    'emotion-v3', 'emovoid-v3', 'emosens-v3-calm', 'emovoid-v3-calm',
  ],
  'torch-peers': [
    'sgd', 'sgd-momentum', 'sgd-nesterov', 'rmsprop', 'rmsprop-centered-momentum', 'adagrad', 'adamax', 'nadam',
    'radam', 'amsgrad', 'adam-l2', 'lion', 'sgd-steplr', 'adam-exponentiallr', 'adamw-warmup-cosine', 'sgd-onecycle',
    'adamw-cosine-restarts', 'sgd-polynomial', 'adam-plateau', 'sgd-momentum-clip-norm', 'adamw-clip-value',
    'adamw-accumulate-3', 'adam-lookahead',
  ],
};

describe.each(Object.keys(REQUIRED).map((suite) => [suite]))('golden trajectories of the PyTorch reference: %s', (suite) => {
  const found = findGoldenDir(repoRoot, suite);
  if ('reason' in found) console.warn(`golden suite ${suite} skipped: ${found.reason}`);
  const dir = 'dir' in found ? found.dir : '';
  const files = 'dir' in found ? listCaseFiles(dir) : [];
  const cases = files.map(loadCase);

  it('has every required case', (ctx) => {
    if ('reason' in found) ctx.skip(found.reason);
    const names = cases.map((c) => ('golden' in c ? c.golden.case : c.file));
    for (const required of REQUIRED[suite]!) expect(names).toContain(required);
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
