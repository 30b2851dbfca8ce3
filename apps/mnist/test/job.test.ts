import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, parseJobArgs } from '../src/args.js';
import { runJob } from '../src/job.js';
import type { JobResults } from '../src/report.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function sink(): { text: () => string; write(s: string): void } {
  const chunks: string[] = [];
  return { text: () => chunks.join(''), write: (s: string) => void chunks.push(s) };
}

describe('runJob', () => {
  it('trains EmoSens and AdamW for 30 steps, lowers the loss and writes results.json and report.html', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'emosens-mnist-'));
    dirs.push(out);
    const stdout = sink();
    const stderr = sink();
    const before = tf.memory().numTensors;
    const code = await runJob({ ...DEFAULTS, backend: 'cpu', optimizers: ['emosens', 'adamw'], steps: 30, out }, { stdout, stderr });
    expect(code).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(stderr.text()).not.toMatch(/warning|error/i);

    const results = JSON.parse(await readFile(path.join(out, 'results.json'), 'utf8')) as JobResults;
    expect(results.options).toMatchObject({
      steps: 30,
      seed: DEFAULTS.seed,
      backend: 'cpu',
      fusedKernels: 'registerCpuKernels (@emosens/backend-cpu)',
      batchSize: 64,
      lr: null,
    });
    expect(results.runs.map((r) => r.optimizer)).toEqual(['emosens', 'adamw']);
    expect(results.runs.map((r) => r.lr)).toEqual([1e-3, 1e-3]);
    for (const run of results.runs) {
      expect(run.losses).toHaveLength(30);
      const first = run.losses.slice(0, 5).reduce((a, b) => a + b) / 5;
      const last = run.losses.slice(-5).reduce((a, b) => a + b) / 5;
      expect(last).toBeLessThan(first - 0.2);
      expect(run.heldOutAccuracy).toBeGreaterThan(0.3);
      expect(run.msPerStep).toBeGreaterThan(0);
      expect(run.stateBytes).toBeGreaterThan(0);
      expect(run).toMatchObject({ backend: 'cpu', path: 'fused', fusedSteps: 30 });
    }
    const [emosens, adamw] = results.runs;
    // Same starting point: the first batch's loss is identical for both.
    expect(emosens!.losses[0]).toBe(adamw!.losses[0]);
    expect(emosens!.emotion.every((v) => typeof v === 'number' && v > -1 && v < 1)).toBe(true);
    expect(adamw!.emotion.every((v) => v === null)).toBe(true);
    // Neither publishes a step size (v2 and AdamW step with their constant lr).
    for (const run of results.runs) expect(run.stepSize).toEqual(Array.from({ length: 30 }, () => null));

    const html = await readFile(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('EmoSens');
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    expect(stdout.text()).toMatch(/EmoSens\s+0\.001\s+cpu\s+fused\s+\d\.\d{4}\s+\d\.\d{4}/);
  });

  it('runs `--optimizers lion,sgd-momentum --steps 30`: each at its own learning rate, fused, the loss falls', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'emosens-mnist-'));
    dirs.push(out);
    const parsed = parseJobArgs(['--optimizers', 'lion,sgd-momentum', '--steps', '30', '--backend', 'cpu', '--out', out]);
    if (parsed.kind !== 'run') throw new Error(`expected a run, got ${parsed.kind}`);
    const stdout = sink();
    const stderr = sink();
    const before = tf.memory().numTensors;
    expect(await runJob(parsed.options, { stdout, stderr })).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(stderr.text()).not.toMatch(/warning|error/i);
    const results = JSON.parse(await readFile(path.join(out, 'results.json'), 'utf8')) as JobResults;
    expect(results.options.lr).toBeNull();
    expect(results.runs.map((r) => [r.optimizer, r.label, r.lr])).toEqual([
      ['lion', 'Lion', 3e-4],
      ['sgd-momentum', 'SGD momentum', 0.03],
    ]);
    for (const run of results.runs) {
      expect(run).toMatchObject({ backend: 'cpu', path: 'fused', fusedSteps: 30 });
      const first = run.losses.slice(0, 5).reduce((a, b) => a + b) / 5;
      const last = run.losses.slice(-5).reduce((a, b) => a + b) / 5;
      expect(last, run.label).toBeLessThan(first - 0.2);
      expect(run.emotion.every((v) => v === null)).toBe(true);
    }
    expect(results.runs[0]!.losses[0]).toBe(results.runs[1]!.losses[0]);
    expect(stdout.text()).toMatch(/Lion\s+0\.0003\s+cpu\s+fused/);
    expect(stdout.text()).toMatch(/SGD momentum\s+0\.03\s+cpu\s+fused/);
  });

  it('runs `--optimizers emoSensV3,emoVoid --steps 30`: lr 1.0, fused, the loss falls, a step size and emotion each step', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'emosens-mnist-'));
    dirs.push(out);
    const parsed = parseJobArgs(['--optimizers', 'emoSensV3,emoVoid', '--steps', '30', '--backend', 'cpu', '--out', out]);
    if (parsed.kind !== 'run') throw new Error(`expected a run, got ${parsed.kind}`);
    const stdout = sink();
    const stderr = sink();
    const before = tf.memory().numTensors;
    expect(await runJob(parsed.options, { stdout, stderr })).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(stderr.text()).not.toMatch(/warning|error/i);
    const results = JSON.parse(await readFile(path.join(out, 'results.json'), 'utf8')) as JobResults;
    expect(results.runs.map((r) => [r.optimizer, r.label, r.lr])).toEqual([
      ['emosens-v3', 'EmoSens v3', 1],
      ['emovoid', 'EmoVoid', 1],
    ]);
    for (const run of results.runs) {
      expect(run).toMatchObject({ backend: 'cpu', path: 'fused', fusedSteps: 30 });
      const first = run.losses.slice(0, 5).reduce((a, b) => a + b) / 5;
      const last = run.losses.slice(-5).reduce((a, b) => a + b) / 5;
      // emoPulse starts small (about 1e-4 here) and grows while the loss falls, so 30 steps
      // move less than v2's or AdamW's first 30.
      expect(last, run.label).toBeLessThan(first - 0.05);
      // emoPulse's step size, published every step: positive, at most its cap 3e-3 lr, growing.
      expect(run.stepSize).toHaveLength(30);
      for (const v of run.stepSize) expect(v, run.label).toBeGreaterThan(0);
      for (const v of run.stepSize) expect(v, run.label).toBeLessThanOrEqual(3e-3 * (1 + 1e-6));
      expect(run.stepSize.at(-1)!, run.label).toBeGreaterThan(run.stepSize[0]!);
      // v3's scalar is positive while the loss falls (v2's is negative).
      expect(run.emotion.every((v) => typeof v === 'number' && v > -1 && v < 1)).toBe(true);
      expect(run.emotion.at(-1)!, run.label).toBeGreaterThan(0);
    }
    const html = await readFile(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('<title>EmoVoid</title>');
    expect(stdout.text()).toMatch(/EmoSens v3\s+1\s+cpu\s+fused/);
  });

  it('returns exit code 2 with a message naming --backend when the backend cannot start', async () => {
    // No Vulkan driver: VK_ICD_FILENAMES names a file that does not exist (the webgpu
    // set-up keeps a VK_ICD_FILENAMES that is set), so Node's WebGPU finds no adapter on
    // any machine, and this file's process has not started WebGPU before.
    const driver = process.env.VK_ICD_FILENAMES;
    process.env.VK_ICD_FILENAMES = path.join(tmpdir(), 'emosens-no-such-vulkan-driver.json');
    try {
      const stderr = sink();
      const code = await runJob({ ...DEFAULTS, backend: 'webgpu', steps: 1 }, { stdout: sink(), stderr });
      expect(code).toBe(2);
      expect(stderr.text()).toMatch(/^error: --backend webgpu: /m);
      expect(tf.getBackend()).toBe('cpu');
    } finally {
      if (driver === undefined) delete process.env.VK_ICD_FILENAMES;
      else process.env.VK_ICD_FILENAMES = driver;
    }
  });
});
