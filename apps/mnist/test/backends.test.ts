import { CHROMIUM_SWIFTSHADER_ICD } from '@emosens/backend-webgpu/node';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, DEFAULTS, learningRateOf, type BackendName } from '../src/args.js';
import { FUSED_KERNELS, setupBackend } from '../src/backend.js';
import { loadMnist, splitDataset } from '../src/data.js';
import { BATCH_SIZE, HELD_OUT_COUNT, runJob } from '../src/job.js';
import { createInitialWeights } from '../src/model.js';
import { DEFAULT_OPTIMIZERS } from '../src/optimizers.js';
import type { JobResults } from '../src/report.js';
import { trainRun, type RunResult } from '../src/train.js';

const STEPS = 4;
const SEED = 3;

/**
 * Whether `name` must start here, so that a failure to start fails the test: cpu and
 * wasm always; webgpu where a WebGPU implementation is known to be present, i.e.
 * Debian's chromium with its SwiftShader Vulkan driver (which CI installs) or a
 * navigator.gpu. Elsewhere a backend that cannot start is skipped, with its reason.
 */
function mustStart(name: BackendName): boolean {
  if (name !== 'webgpu') return true;
  const navigator = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
  return existsSync(CHROMIUM_SWIFTSHADER_ICD) || navigator?.gpu !== undefined;
}

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function sink(): { text: () => string; write(s: string): void } {
  const chunks: string[] = [];
  return { text: () => chunks.join(''), write: (s: string) => void chunks.push(s) };
}

/**
 * The same runs on the cpu backend with no fused kernels registered (the composed
 * path): what every backend and path must reproduce within float32 noise.
 */
let reference: RunResult[];
beforeAll(async () => {
  await tf.setBackend('cpu');
  const split = splitDataset(loadMnist(), HELD_OUT_COUNT, SEED);
  const initialWeights = createInitialWeights(SEED);
  reference = [];
  for (const optimizer of DEFAULT_OPTIMIZERS) {
    reference.push(
      await trainRun({
        optimizer,
        steps: STEPS,
        batchSize: BATCH_SIZE,
        seed: SEED,
        lr: learningRateOf(optimizer, DEFAULTS.lr),
        onNonFinite: 'throw',
        train: split.train,
        heldOut: split.heldOut,
        initialWeights,
      }),
    );
  }
  expect(reference.every((r) => r.backend === 'cpu' && r.path === 'composed')).toBe(true);
});

describe.each(BACKEND_NAMES)('the job on the %s backend', (name) => {
  const kernels = FUSED_KERNELS[name];
  const expectedPath = kernels === undefined ? 'composed' : 'fused';

  it(`trains the ${DEFAULT_OPTIMIZERS.length} default optimizers for ${STEPS} steps, ${expectedPath}, like the composed cpu reference`, async (ctx) => {
    const out = await mkdtemp(path.join(tmpdir(), `emosens-mnist-${name}-`));
    dirs.push(out);
    const stderr = sink();
    const before = tf.memory().numTensors;
    const code = await runJob({ ...DEFAULTS, backend: name, steps: STEPS, seed: SEED, out }, { stdout: sink(), stderr });
    try {
      if (code === 2 && !mustStart(name)) {
        const reason = stderr.text().trim().replace(/^error: /, '');
        console.log(`skipped: ${reason}`);
        ctx.skip(reason);
      }
      expect(code, `--backend ${name} should start here (${stderr.text().trim()})`).toBe(0);
      expect(tf.getBackend()).toBe(name);
      expect(tf.memory().numTensors).toBe(before);

      const results = JSON.parse(await readFile(path.join(out, 'results.json'), 'utf8')) as JobResults;
      expect(results.options).toMatchObject({ backend: name, fusedKernels: kernels?.source ?? null, steps: STEPS });
      expect(results.runs.map((r) => r.optimizer)).toEqual([...DEFAULT_OPTIMIZERS]);
      results.runs.forEach((got, i) => {
        const want = reference[i]!;
        expect(got.backend).toBe(name);
        expect(got.path, got.label).toBe(expectedPath);
        expect(got.fusedSteps).toBe(expectedPath === 'fused' ? STEPS : 0);
        expect(got.losses).toHaveLength(STEPS);
        got.losses.forEach((loss, step) => {
          expect(Math.abs(loss - want.losses[step]!), `${got.label} loss at step ${step + 1}`).toBeLessThan(1e-4);
        });
        if (want.emotion.at(-1) === null) {
          expect(got.emotion.every((v) => v === null)).toBe(true);
        } else {
          expect(Math.abs(got.emotion.at(-1)! - want.emotion.at(-1)!), `${got.label} emotion`).toBeLessThan(1e-3);
        }
        if (want.stepSize.at(-1) === null) {
          expect(got.stepSize.every((v) => v === null)).toBe(true);
        } else {
          const [a, b] = [got.stepSize.at(-1)!, want.stepSize.at(-1)!];
          expect(Math.abs(a - b) / b, `${got.label} step size`).toBeLessThan(1e-3);
        }
        expect(Math.abs(got.heldOutAccuracy - want.heldOutAccuracy), `${got.label} accuracy`).toBeLessThanOrEqual(0.002);
        expect(got.stateBytes).toBe(want.stateBytes);
      });
    } finally {
      await tf.setBackend('cpu');
    }
    // ten optimizers on WebGPU in SwiftShader (a CPU Vulkan driver) take ~30 s unloaded
  }, 240_000);
});

describe('setupBackend', () => {
  it("registers the backend's fused kernels until release()", async () => {
    const setup = await setupBackend('cpu');
    if (!setup.ok) throw new Error(setup.message);
    const split = splitDataset(loadMnist(), HELD_OUT_COUNT, SEED);
    const run = () =>
      trainRun({
        optimizer: 'emosens',
        steps: 1,
        batchSize: BATCH_SIZE,
        seed: SEED,
        lr: learningRateOf('emosens', DEFAULTS.lr),
        onNonFinite: 'throw',
        train: split.train,
        heldOut: split.heldOut,
        initialWeights: createInitialWeights(SEED),
      });
    try {
      expect(setup).toMatchObject({ name: 'cpu', fusedKernels: 'registerCpuKernels (@emosens/backend-cpu)', syncReads: true });
      expect((await run()).path).toBe('fused');
    } finally {
      setup.release();
    }
    expect((await run()).path).toBe('composed');
  });
});
