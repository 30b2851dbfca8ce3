import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeResult, findGoldenDir, listCaseFiles, loadCase, runCase } from '../src/index.js';

// The composed path on the wasm backend (its .wasm files ship inside the npm package).
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const found = findGoldenDir(repoRoot);
if ('reason' in found) console.warn(`golden suite on wasm skipped: ${found.reason}`);

describe.skipIf('reason' in found)('golden trajectories on the wasm backend', () => {
  const cases = 'dir' in found ? listCaseFiles(found.dir).map(loadCase) : [];

  beforeAll(async () => {
    // Node cannot start tfjs-wasm's blob-URL workers: use the single-threaded build.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    expect(await tf.setBackend('wasm')).toBe(true);
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const loaded of cases) {
    const label = 'golden' in loaded ? loaded.golden.case : path.basename(loaded.file);
    it(`${label} passes on wasm`, async () => {
      if (!('golden' in loaded)) throw new Error(`malformed: ${loaded.error}`);
      expect(tf.getBackend()).toBe('wasm');
      expect(describeResult(await runCase(loaded.golden))).toBe(`${loaded.golden.case}: pass`);
    });
  }
});
