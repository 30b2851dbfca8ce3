import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describeResult, runCase } from '@emosens/golden';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { golden } from './golden-cases.js';
import { BACKENDS, useTfOpsTarget } from './helpers.js';

// The target is plain tf ops: registered on the cpu and wasm backends, the golden suite
// proves its math here, where tfjs-node-gpu cannot be installed.
describe.skipIf(golden.reason !== undefined).each(BACKENDS)('the golden suite through the tf-ops target, on the %s backend', (backend) => {
  const target = useTfOpsTarget(backend);
  let previous = 'cpu';
  beforeAll(async () => {
    previous = tf.getBackend();
    expect(await tf.setBackend(backend)).toBe(true);
  });
  afterAll(async () => {
    await tf.setBackend(previous);
  });

  for (const loaded of golden.cases) {
    const label = 'golden' in loaded ? loaded.golden.case : path.basename(loaded.file);
    for (const tensorLossOnEvenSteps of [false, true]) {
      it(`${label} (${tensorLossOnEvenSteps ? 'tensor loss on even steps' : 'number loss'}): every step fused, within the recording's tolerance, no leaks`, async () => {
        if (!('golden' in loaded)) throw new Error(`malformed: ${loaded.error}`);
        const before = tf.memory().numTensors;
        const runs = target.runs;
        const result = await runCase(loaded.golden, { tensorLossOnEvenSteps });
        expect(describeResult(result)).toBe(`${loaded.golden.case}: pass`);
        expect(target.runs - runs).toBe(loaded.golden.steps.length);
        expect([...result.paths]).toEqual(['fused']);
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  }
});
