import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { applyUpdates, registerFusionTarget, runTransform, statefulOptimizer } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { describeResult, GoldenFormatError, optimizerFor, parseCase, runCase, runDirectory, type GoldenCase } from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A small self-made recording of emosens on fixed data (so these tests need no shared folder). */
function makeRecording(name = 'emosens-mini'): GoldenCase {
  const shape = [2, 3];
  const init = [0.5, -0.25, 1, -1, 0.75, 0.1];
  const w = tf.tensor(init, shape);
  const opt = statefulOptimizer(optimizerFor('emosens', { lr: 0.01 }), { w });
  w.dispose();
  const steps = [];
  for (let t = 0; t < 5; t++) {
    const grads = init.map((x, i) => Math.sin(x * (t + 1) + i));
    const loss = 1 / (t + 1);
    const g = tf.tensor(grads, shape);
    opt.step({ w: g }, { loss });
    g.dispose();
    steps.push({ loss, grads: { w: grads }, expected: { w: Array.from(opt.params.w!.dataSync()) }, scalar: opt.readSignal('emotion')!, should_stop: false });
  }
  opt.dispose();
  return { case: name, tolerance: { rtol: 1e-4, atol: 1e-6 }, hyper: { lr: 0.01 }, params: { w: { shape, values: init } }, steps };
}

function writeDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'golden-'));
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

describe('golden runner', () => {
  it('passes a faithful recording and names the first step, parameter and index that differ', async () => {
    const good = makeRecording('emosens-good');
    const bad = structuredClone(makeRecording('emosens-bad')) as unknown as { steps: Array<{ expected: { w: number[] } }> };
    bad.steps[3]!.expected.w[4]! += 0.5;
    const report = await runDirectory(writeDir({ 'a.json': good, 'b.json': bad }));
    expect(report.lines[0]).toBe('emosens-good: pass');
    expect(report.lines[1]).toMatch(/^emosens-bad: FAIL at step 3, w\[4\]: expected [-0-9.e]+, actual [-0-9.e]+$/);
    expect(report.lines.at(-1)).toBe('1 passed, 1 failed');
  });

  it('reports a wrong emotion scalar and calm signal', async () => {
    const rec = structuredClone(makeRecording()) as unknown as { steps: Array<{ scalar: number; should_stop: boolean }> };
    rec.steps[1]!.scalar += 0.1;
    expect((await runDirectory(writeDir({ 'x.json': rec }))).lines[0]).toMatch(/FAIL at step 1, scalar\[0\]/);
    const calm = structuredClone(makeRecording()) as unknown as { steps: Array<{ should_stop: boolean }> };
    calm.steps[2]!.should_stop = true;
    expect((await runDirectory(writeDir({ 'x.json': calm }))).lines[0]).toMatch(/FAIL at step 2, should_stop\[0\]: expected true, actual false/);
  });

  it('reads index.json when present, and reports malformed files clearly', async () => {
    const dir = writeDir({
      'index.json': [{ file: 'ok.json' }, { file: 'bad.json' }, { file: 'notjson.json' }],
      'ok.json': makeRecording(),
      'bad.json': { ...makeRecording(), params: { w: { shape: [2, 3], values: [1, 2] } } },
      'notjson.json': '{ nope',
      'ignored.json': makeRecording('not-listed'),
    });
    const report = await runDirectory(dir);
    expect(report.lines).toHaveLength(4);
    expect(report.lines[1]).toBe("bad: malformed: bad.json: 'params.w.values' must have 6 values for shape [2, 3], has 2.");
    expect(report.lines[2]).toMatch(/^notjson: malformed: not valid JSON/);
    expect(report.lines[3]).toBe('1 passed, 2 failed');
  });

  it('parseCase names the field, and unknown families are refused', async () => {
    expect(() => parseCase({ ...makeRecording(), steps: [] }, 'f.json')).toThrowError(GoldenFormatError);
    expect(() => parseCase({ ...makeRecording(), steps: [] }, 'f.json')).toThrowError("f.json: 'steps' must be a non-empty array.");
    const report = await runDirectory(writeDir({ 'x.json': makeRecording('sgd-1') }));
    expect(report.lines[0]).toMatch(/sgd-1: error: case 'sgd-1': its name must start with one of/);
  });

  it('runCase records the path each step took, honours `fused`, and hands the loss as a tensor on even steps', async () => {
    const rec = makeRecording();
    const transform = optimizerFor('emosens', { lr: 0.01 });
    // A stand-in fusion target: the composed transform run as the "fused" step, counted.
    const losses: string[] = [];
    const unregister = registerFusionTarget('cpu', {
      name: 'golden-test-target',
      guardsNonFinite: false,
      run(step) {
        const loss = step.loss;
        losses.push(typeof loss === 'number' ? 'number' : 'tensor');
        const params = Object.fromEntries(step.params.map((p) => [p.name, p.variable]));
        const grads = Object.fromEntries(step.params.map((p) => [p.name, p.grad]));
        const r = runTransform(transform, params, step.state, grads, loss === undefined ? {} : { loss });
        applyUpdates(params, r.updates);
        tf.dispose(Object.values(r.updates));
        return { state: r.state, signals: r.signals };
      },
    });
    try {
      const before = tf.memory().numTensors;
      const composed = await runCase(rec, { fused: false, tensorLossOnEvenSteps: true });
      expect(describeResult(composed)).toBe('emosens-mini: pass');
      expect([...composed.paths]).toEqual(['composed']);
      expect(losses).toEqual([]);
      const fused = await runCase(rec, { tensorLossOnEvenSteps: true });
      expect(describeResult(fused)).toBe('emosens-mini: pass');
      expect([...fused.paths]).toEqual(['fused']);
      expect(losses).toEqual(['tensor', 'number', 'tensor', 'number', 'tensor']);
      const numbers = await runCase(rec, { fused: true });
      expect([...numbers.paths]).toEqual(['fused']);
      expect(losses.slice(5)).toEqual(['number', 'number', 'number', 'number', 'number']);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      unregister();
    }
  });

  it('runCase releases every tensor when it fails or throws, and checks the final state', async () => {
    const before = tf.memory().numTensors;
    const bad = structuredClone(makeRecording()) as unknown as GoldenCase & { steps: Array<{ expected: { w: number[] } }> };
    bad.steps[1]!.expected.w[2]! += 1;
    const failed = await runCase(bad, { tensorLossOnEvenSteps: true });
    expect(failed.mismatch).toMatchObject({ step: 1, what: 'w', index: 2 });
    expect(failed.steps).toBe(2);
    expect([...failed.paths]).toEqual(['composed']);
    const wrongState = { ...makeRecording(), final_state: { w: { exp_avg: [0, 0, 0, 0, 0, 0] } } };
    expect(describeResult(await runCase(wrongState))).toMatch(/^emosens-mini: FAIL at final state, state\.w\.exp_avg\[0\]/);
    const missingState = { ...makeRecording(), final_state: { w: { exp_avg_r: [0] } } };
    expect(describeResult(await runCase(missingState))).toBe('emosens-mini: FAIL at final state, state.w.exp_avg_r[0]: expected 0, actual missing');
    const badGrads = { ...makeRecording(), steps: [{ ...makeRecording().steps[0]!, grads: { w: [1, 2] } }] };
    await expect(runCase(badGrads as GoldenCase, { tensorLossOnEvenSteps: true })).rejects.toThrow();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('`pnpm golden <dir>` prints one line per case and exits non-zero on a failure', () => {
    const bad = structuredClone(makeRecording('emosens-bad')) as unknown as { steps: Array<{ expected: { w: number[] } }> };
    bad.steps[0]!.expected.w[0]! += 1;
    const dir = writeDir({ 'ok.json': makeRecording('emosens-ok'), 'bad.json': bad });
    const cli = ['--conditions=@emosens/source', path.join(repoRoot, 'packages/golden/src/cli.ts')];
    const tsx = path.join(repoRoot, 'node_modules/.bin/tsx');
    const run = spawnSync(tsx, [...cli, dir], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stdout.trim().split('\n')).toEqual(['emosens-bad: ' + run.stdout.split('emosens-bad: ')[1]!.split('\n')[0], 'emosens-ok: pass', '1 passed, 1 failed']);
    expect(run.stdout).toMatch(/emosens-bad: FAIL at step 0, w\[0\]/);
    const ok = execFileSync(tsx, [...cli, writeDir({ 'ok.json': makeRecording() })], { encoding: 'utf8' });
    expect(ok.trim().split('\n').at(-1)).toBe('1 passed, 0 failed');
    const missing = spawnSync(tsx, [...cli, path.join(dir, 'nope')], { encoding: 'utf8' });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/not a directory of golden recordings/);
  });
});

describe('torch-peers recordings: the optimizer is built from the fields, never the name', () => {
  /** A recording of SGD with momentum, StepLR, value clipping, accumulation 2 and Lookahead, made by hand in float64. */
  function torchRecording(name: string): GoldenCase {
    const init = [0.5, -0.25, 1];
    const lr0 = 0.1;
    const momentum = 0.9;
    const k = 2;
    const sync = 2;
    const alpha = 0.5;
    let p = [...init];
    let slow = [...init];
    let buf: number[] | undefined;
    let acc = [0, 0, 0];
    let optSteps = 0;
    const steps = [];
    for (let t = 0; t < 8; t++) {
      const grads = init.map((x, i) => Math.sin(x * (t + 1) + i));
      acc = acc.map((a, i) => a + grads[i]! / k);
      if ((t + 1) % k === 0) {
        const g = acc.map((a) => Math.min(Math.max(a, -0.3), 0.3));
        buf = buf === undefined ? g : buf.map((b, i) => momentum * b + g[i]!);
        const lr = lr0 * 0.5 ** Math.floor(optSteps / 3); // StepLR(step_size 3, gamma 0.5)
        p = p.map((x, i) => x - lr * buf![i]!);
        optSteps += 1;
        if (optSteps % sync === 0) {
          slow = slow.map((s, i) => s + alpha * (p[i]! - s));
          p = [...slow];
        }
        acc = [0, 0, 0];
      }
      steps.push({ loss: 1, grads: { w: grads }, expected: { w: [...p] } });
    }
    return {
      case: name,
      tolerance: { rtol: 1e-4, atol: 1e-6 },
      optimizer: 'SGD',
      hyper: { lr: lr0, momentum },
      schedule: { name: 'StepLR', args: { step_size: 3, gamma: 0.5 } },
      clip: { kind: 'value', max_value: 0.3 },
      accumulate: k,
      lookahead: { sync_period: sync, alpha },
      params: { w: { shape: [3], values: init } },
      steps,
      final_state: { w: { momentum_buffer: buf!, slow } },
    };
  }

  it('a recording named like nothing we know passes, on both paths, and its state is found by torch key', async () => {
    const golden = torchRecording('zz-anything');
    expect(describeResult(await runCase(golden, { fused: false }))).toBe('zz-anything: pass');
    expect(describeResult(await runCase(golden))).toBe('zz-anything: pass');
  });

  it('the runner can fail: a changed field makes it differ from the recording', async () => {
    const golden = torchRecording('x');
    const result = await runCase({ ...golden, accumulate: 1 }, { fused: false });
    expect(result.mismatch?.step).toBe(0);
  });

  it('unknown classes, clip kinds and schedules are named', async () => {
    const golden = torchRecording('x');
    await expect(runCase({ ...golden, optimizer: 'Adadelta' })).rejects.toThrow(/'optimizer' "Adadelta" is not a class this runner builds \(SGD, RMSprop/);
    await expect(runCase({ ...golden, clip: { kind: 'norm_2' } })).rejects.toThrow(/clip: expected/);
    await expect(runCase({ ...golden, schedule: { name: 'CyclicLR' } })).rejects.toThrow(GoldenFormatError);
    expect(() => parseCase({ ...golden, accumulate: 0 }, 'f.json')).toThrow(/'accumulate' must be an integer >= 1/);
    expect(() => parseCase({ ...golden, lookahead: { alpha: 0.5 } }, 'f.json')).toThrow(/'lookahead' must be/);
  });
});
