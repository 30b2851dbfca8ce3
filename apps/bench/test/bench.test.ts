import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../src/args.js';
import { cpuBackend, webgpuBackend, type BenchBackend } from '../src/backends.js';
import { paramShapes, runBench, type BenchRecord } from '../src/bench.js';
import { streamSevenArrays } from '../src/floor.js';
import { FLOOR_WGSL } from '../src/webgpu-floor.js';
import { computePeerRatios, computeRatios, formatReport } from '../src/report.js';
import { median, timeSteps } from '../src/timing.js';

describe('arguments', () => {
  it('resolves --json against the directory pnpm started in, and reads the flags', () => {
    const a = parseArgs(['--json', 'out/bench.json', '--quick'], '/home/me/work');
    expect(a.json).toBe(path.resolve('/home/me/work', 'out/bench.json'));
    expect(a.quick).toBe(true);
    expect(a.sizes).toEqual([100_000]);
    expect(parseArgs(['--json=/tmp/x.json'], '/anywhere').json).toBe('/tmp/x.json');
    expect(parseArgs([], '/').sizes).toEqual([1_000_000, 10_000_000]);
    expect(parseArgs(['--', '--sizes', '1e6,2000', '--backends', 'cpu'], '/')).toMatchObject({ sizes: [1_000_000, 2000], backends: ['cpu'] });
  });

  it('refuses what it does not know, naming it', () => {
    expect(() => parseArgs(['--fast'], '/')).toThrow(/unknown argument '--fast'/);
    expect(() => parseArgs(['--json'], '/')).toThrow(/--json needs a value/);
    expect(() => parseArgs(['--sizes', '1.5'], '/')).toThrow(/'1.5' is not a parameter count/);
  });
});

describe('measurement helpers', () => {
  it('splits a parameter count into a matrix and a vector that add up to it', () => {
    for (const n of [2, 10, 2000, 1_000_000, 10_000_000, 1234567]) {
      const shapes = Object.values(paramShapes(n));
      expect(shapes.reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0)).toBe(n);
      expect(shapes.every((s) => s.every((d) => d >= 1))).toBe(true);
    }
    expect(paramShapes(1_000_000)).toEqual({ w: [999, 1000], b: [1000] });
  });

  it('the floor streams 4 arrays in and 3 out', () => {
    const p = Float32Array.from([1, 2]);
    const m = Float32Array.from([3, 4]);
    const v = Float32Array.from([5, 6]);
    streamSevenArrays(p, Float32Array.from([0.5, 1]), m, v);
    expect([...p, ...m, ...v]).toEqual([1.5, 3, 3.5, 5, 4.5, 5]);
  });

  it('takes the median of the measured steps after the warm-up', async () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    let calls = 0;
    const r = await timeSteps(() => calls++, { warmup: 2, budgetMs: 0, minSteps: 3, maxSteps: 10 });
    expect(r.samples).toHaveLength(3);
    expect(calls).toBe(5);
  });
});

describe('a tiny run', () => {
  const unavailable: BenchBackend = {
    name: 'imaginary',
    activate: async () => ({ ok: false, reason: 'no such device here' }),
    registerKernels: () => () => undefined,
    sync: async () => undefined,
  };

  it('measures every optimizer and path on cpu, skips an unavailable backend with its reason, and leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const lines: string[] = [];
    const result = await runBench({ backends: [cpuBackend, unavailable], sizes: [2000], quick: true, log: (l) => lines.push(l) });
    expect(tf.memory().numTensors).toBe(before);
    expect(result.skipped).toEqual([{ backend: 'imaginary', reason: 'no such device here' }]);
    const cases = result.records.map((r) => `${r.optimizer}/${r.path}`);
    expect(cases).toEqual([
      'emoSens/fused', 'emoSens/composed', 'emoAiry/fused', 'emoAiry/composed', 'emoCats/fused', 'emoCats/composed',
      'adamw/fused', 'adamw/composed', 'customChain/fused', 'customChain/composed', 'tf.train.adam/tfjs',
      'sgd/fused', 'sgd/composed', 'tf.train.sgd/tfjs',
      'sgd-momentum/fused', 'sgd-momentum/composed', 'tf.train.momentum/tfjs',
      'rmsprop/fused', 'rmsprop/composed', 'tf.train.rmsprop/tfjs',
      'adagrad/fused', 'adagrad/composed', 'tf.train.adagrad/tfjs',
      'adamax/fused', 'adamax/composed', 'tf.train.adamax/tfjs',
      'nadam/fused', 'nadam/composed', 'radam/fused', 'radam/composed', 'lion/fused', 'lion/composed',
      'adafactor/fused', 'adafactor/composed', 'lamb/fused', 'lamb/composed',
    ]);
    expect(result.records.find((r) => r.optimizer === 'rmsprop' && r.path === 'fused')?.tfjsPeer).toBe('tf.train.rmsprop');
    expect(result.records.find((r) => r.optimizer === 'lion' && r.path === 'fused')?.tfjsPeer).toBeUndefined();
    for (const r of result.records) {
      expect(r).toMatchObject({ backend: 'cpu', params: 2000 });
      expect(Number.isFinite(r.msPerStep) && r.msPerStep > 0).toBe(true);
      expect(Number.isFinite(r.floorMs) && r.floorMs > 0).toBe(true);
    }
    const bytes = (optimizer: string, p: string) => result.records.find((r) => r.optimizer === optimizer && r.path === p)!.stateBytes;
    // the same state on both paths; EmoSens keeps 2 moments per entry, EmoCats 1, EmoAiry far less
    expect(bytes('emoSens', 'fused')).toBe(bytes('emoSens', 'composed'));
    expect(bytes('emoSens', 'fused')).toBeGreaterThanOrEqual(2 * 2000 * 4);
    expect(bytes('emoCats', 'fused')).toBeGreaterThanOrEqual(2000 * 4);
    expect(bytes('emoAiry', 'fused')).toBeLessThan(bytes('emoCats', 'fused'));
    expect(bytes('tf.train.adam', 'tfjs')).toBeGreaterThanOrEqual(2 * 2000 * 4);
    // torch SGD without momentum keeps no state; with it, one buffer, as tf.train.momentum
    expect(bytes('sgd', 'fused')).toBeLessThan(2000);
    expect(bytes('sgd-momentum', 'fused')).toBeGreaterThanOrEqual(2000 * 4);
    expect(bytes('tf.train.momentum', 'tfjs')).toBeGreaterThanOrEqual(2000 * 4);
    expect(bytes('tf.train.adamax', 'tfjs')).toBeGreaterThanOrEqual(2 * 2000 * 4); // counted from tf.memory (no getWeights)
    expect(lines.some((l) => l.includes('imaginary: skipped (no such device here)'))).toBe(true);

    const report = formatReport(result);
    expect(report).toMatch(/backend\s+params\s+optimizer\s+path\s+ms\/step/);
    expect(report).toContain('imaginary: skipped: no such device here');
    expect(report).toMatch(/cpu 2k: [\d.]+x faster than tf\.train\.adam/);
    expect(report).toMatch(/cpu 2k: rmsprop fused [\d.]+x, composed [\d.]+x faster than tf\.train\.rmsprop/);
  });
});

describe('ratios', () => {
  it('compares fused emoSens with tf.train.adam and with the floor', () => {
    const base = { backend: 'cpu', params: 1_000_000, stateBytes: 0, floorMs: 2 };
    const records: BenchRecord[] = [
      { ...base, optimizer: 'emoSens', path: 'fused', msPerStep: 4 },
      { ...base, optimizer: 'emoSens', path: 'composed', msPerStep: 400 },
      { ...base, optimizer: 'tf.train.adam', path: 'tfjs', msPerStep: 160 },
    ];
    expect(computeRatios(records)).toEqual([{ backend: 'cpu', params: 1_000_000, speedupVsTfAdam: 40, fusedOverFloor: 2 }]);
    expect(formatReport({ records, skipped: [], details: {} })).toContain('cpu 1M: 40.0x faster than tf.train.adam, 2.00x the memory floor');
  });
});

describe('torch.optim peers', () => {
  it('compare fused and composed with the tfjs optimizer of the same name', () => {
    const base = { backend: 'wasm', params: 1_000_000, stateBytes: 0, floorMs: 2 };
    const records: BenchRecord[] = [
      { ...base, optimizer: 'sgd-momentum', path: 'fused', tfjsPeer: 'tf.train.momentum', msPerStep: 2 },
      { ...base, optimizer: 'sgd-momentum', path: 'composed', tfjsPeer: 'tf.train.momentum', msPerStep: 8 },
      { ...base, optimizer: 'tf.train.momentum', path: 'tfjs', msPerStep: 10 },
      { ...base, optimizer: 'lion', path: 'fused', msPerStep: 3 },
      { ...base, optimizer: 'lion', path: 'composed', msPerStep: 30 },
    ];
    expect(computePeerRatios(records)).toEqual([
      { backend: 'wasm', params: 1_000_000, optimizer: 'sgd-momentum', tfjsPeer: 'tf.train.momentum', fusedSpeedup: 5, composedSpeedup: 1.25 },
    ]);
    expect(formatReport({ records, skipped: [], details: {} })).toContain(
      'wasm 1M: sgd-momentum fused 5.0x, composed 1.25x faster than tf.train.momentum',
    );
  });
});

describe('the webgpu floor', () => {
  it('is a WGSL pass that reads 4 and writes 3 float32 arrays', () => {
    expect(FLOOR_WGSL.match(/var<storage, read_write> \w: array<vec4<f32>>/g)).toHaveLength(3);
    expect(FLOOR_WGSL.match(/var<storage, read> \w: array<vec4<f32>>/g)).toHaveLength(1);
    expect(FLOOR_WGSL).toMatch(/p\[i\] = p\[i\] \+ gi;[\s\S]*m\[i\] = m\[i\] \+ gi;[\s\S]*v\[i\] = v\[i\] - gi;/);
  });

  it('runs on the webgpu device, in the same run as the rest (skipped with the reason without an adapter)', async (ctx) => {
    const available = await webgpuBackend.activate();
    if (!available.ok) ctx.skip(available.reason);
    try {
      const ms = await webgpuBackend.floor!.measure(100_000, { warmup: 1, budgetMs: 0, minSteps: 2, maxSteps: 2 });
      expect(Number.isFinite(ms) && ms > 0).toBe(true);
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
