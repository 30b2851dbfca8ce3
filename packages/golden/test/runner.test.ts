import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { statefulOptimizer } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { GoldenFormatError, optimizerFor, parseCase, runDirectory, type GoldenCase } from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A small self-made recording of emosens on fixed data (so these tests need no shared folder). */
function makeRecording(name = 'emosens-mini'): GoldenCase {
  const shape = [2, 3];
  const init = [0.5, -0.25, 1, -1, 0.75, 0.1];
  const opt = statefulOptimizer(optimizerFor('emosens', { lr: 0.01 }), { w: tf.tensor(init, shape) });
  const steps = [];
  for (let t = 0; t < 5; t++) {
    const grads = init.map((x, i) => Math.sin(x * (t + 1) + i));
    const loss = 1 / (t + 1);
    opt.step({ w: tf.tensor(grads, shape) }, { loss });
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
  it('passes a faithful recording and names the first step, parameter and index that differ', () => {
    const good = makeRecording('emosens-good');
    const bad = structuredClone(makeRecording('emosens-bad')) as unknown as { steps: Array<{ expected: { w: number[] } }> };
    bad.steps[3]!.expected.w[4]! += 0.5;
    const report = runDirectory(writeDir({ 'a.json': good, 'b.json': bad }));
    expect(report.lines[0]).toBe('emosens-good: pass');
    expect(report.lines[1]).toMatch(/^emosens-bad: FAIL at step 3, w\[4\]: expected [-0-9.e]+, actual [-0-9.e]+$/);
    expect(report.lines.at(-1)).toBe('1 passed, 1 failed');
  });

  it('reports a wrong emotion scalar and calm signal', () => {
    const rec = structuredClone(makeRecording()) as unknown as { steps: Array<{ scalar: number; should_stop: boolean }> };
    rec.steps[1]!.scalar += 0.1;
    expect(runDirectory(writeDir({ 'x.json': rec })).lines[0]).toMatch(/FAIL at step 1, scalar\[0\]/);
    const calm = structuredClone(makeRecording()) as unknown as { steps: Array<{ should_stop: boolean }> };
    calm.steps[2]!.should_stop = true;
    expect(runDirectory(writeDir({ 'x.json': calm })).lines[0]).toMatch(/FAIL at step 2, should_stop\[0\]: expected true, actual false/);
  });

  it('reads index.json when present, and reports malformed files clearly', () => {
    const dir = writeDir({
      'index.json': [{ file: 'ok.json' }, { file: 'bad.json' }, { file: 'notjson.json' }],
      'ok.json': makeRecording(),
      'bad.json': { ...makeRecording(), params: { w: { shape: [2, 3], values: [1, 2] } } },
      'notjson.json': '{ nope',
      'ignored.json': makeRecording('not-listed'),
    });
    const report = runDirectory(dir);
    expect(report.lines).toHaveLength(4);
    expect(report.lines[1]).toBe("bad: malformed: bad.json: 'params.w.values' must have 6 values for shape [2, 3], has 2.");
    expect(report.lines[2]).toMatch(/^notjson: malformed: not valid JSON/);
    expect(report.lines[3]).toBe('1 passed, 2 failed');
  });

  it('parseCase names the field, and unknown families are refused', () => {
    expect(() => parseCase({ ...makeRecording(), steps: [] }, 'f.json')).toThrowError(GoldenFormatError);
    expect(() => parseCase({ ...makeRecording(), steps: [] }, 'f.json')).toThrowError("f.json: 'steps' must be a non-empty array.");
    const report = runDirectory(writeDir({ 'x.json': makeRecording('sgd-1') }));
    expect(report.lines[0]).toMatch(/sgd-1: error: case 'sgd-1': its name must start with one of/);
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
