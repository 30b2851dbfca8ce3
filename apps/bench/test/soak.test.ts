import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../src/args.js';
import { cpuBackend } from '../src/backends.js';
import { SOAK_OPTIMIZERS, formatSoakReport, runSoak } from '../src/soak.js';

describe('soak', () => {
  it('parses --soak and --steps', () => {
    expect(parseArgs(['--soak'], '/')).toMatchObject({ soak: true, steps: 10_000 });
    expect(parseArgs(['--soak', '--steps', '50'], '/')).toMatchObject({ soak: true, steps: 50 });
    expect(() => parseArgs(['--steps', '0'], '/')).toThrow(/--steps: '0' is not a step count/);
  });

  it('runs every Emo optimizer a few steps on both paths, reporting tensors and RSS at the start and the end', async () => {
    const before = tf.memory().numTensors;
    const result = await runSoak({ backends: [cpuBackend], steps: 5 });
    expect(result.skipped).toEqual([]);
    expect(result.records.map((r) => `${r.optimizer}/${r.path}`)).toEqual(
      Object.keys(SOAK_OPTIMIZERS).flatMap((o) => [`${o}/fused`, `${o}/composed`]),
    );
    for (const r of result.records) {
      expect(r.steps).toBe(5);
      expect(r.fusedSteps, `${r.optimizer} ${r.path}`).toBe(r.path === 'fused' ? 5 : 0);
      expect(r.tensorsEnd, `${r.optimizer} ${r.path}: tensors`).toBe(r.tensorsStart);
      expect(r.rssStartMb).toBeGreaterThan(0);
      expect(Number.isFinite(r.lossEnd)).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(before);
    const report = formatSoakReport(result);
    expect(report).toMatch(/cpu +emoAiry +fused +5 steps: tensors \d+ -> \d+, RSS \d+ -> \d+ MB/);
  });
});
