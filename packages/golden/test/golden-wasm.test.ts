import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeResult, findGoldenDir, GOLDEN_SUITES, listCaseFiles, loadCase, runCase } from '../src/index.js';

// The composed path on the wasm backend (its .wasm files ship inside the npm package).
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
describe.each(GOLDEN_SUITES.map((suite) => [suite]))('golden trajectories on the wasm backend: %s', (suite) => {
  const found = findGoldenDir(repoRoot, suite);
  it('finds the recordings', (ctx) => {
    if ('reason' in found) ctx.skip(found.reason);
    expect(cases.length).toBeGreaterThanOrEqual(10);
  });
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
