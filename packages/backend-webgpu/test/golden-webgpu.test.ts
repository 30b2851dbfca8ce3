import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFusionTarget, statefulOptimizer } from '@emosens/core';
import { emoSensV3 } from '@emosens/optimizers';
import { describeResult, findGoldenDir, GOLDEN_SUITES, isEmoV3Case, listCaseFiles, loadCase, runCase } from '@emosens/golden';
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
      // v3's scalar rule needs the loss as a number, which webgpu cannot read back synchronously
      // (a tensor loss is refused there with INVALID_LOSS, tested below): those get numbers
      const result = await runCase(loaded.golden, { tensorLossOnEvenSteps: !isEmoV3Case(loaded.golden) });
      expect(describeResult(result)).toBe(`${loaded.golden.case}: pass`);
      expect(result.steps).toBe(loaded.golden.steps.length);
      expect([...result.paths], `declined: ${lastWebGpuDecline()}`).toEqual(['fused']);
      expect(runs - runsBefore).toBe(loaded.golden.steps.length);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});

describe.skipIf(!webgpu.ok)('a block that needs the loss as a number, on webgpu', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });
  it('refuses a tensor loss with INVALID_LOSS (no synchronous read to trust), and takes a number', async () => {
    await tf.setBackend('webgpu');
    const params = { w: tf.tensor([1, -2, 3]) };
    const opt = statefulOptimizer(emoSensV3(), params, { fused: false });
    tf.dispose(Object.values(params));
    const g = { w: tf.tensor([0.1, 0.2, -0.3]) };
    const loss = tf.sum(tf.square(g.w)) as tf.Scalar;
    expect(() => opt.step(g, { loss })).toThrowError(/needs this step's loss as a number.*webgpu backend cannot read a tensor back synchronously/);
    opt.step(g, { loss: (await loss.data())[0]! });
    expect(await opt.readSignalAsync('stepSize')).toBeGreaterThan(0);
    tf.dispose([loss, ...Object.values(g)]);
    opt.dispose();
  });
});
