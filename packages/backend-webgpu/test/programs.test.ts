import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdamCountProgram } from '../src/programs/adam-count-program.js';
import { EmotionProgram } from '../src/programs/emotion-program.js';
import { FactoredStatsProgram } from '../src/programs/factored-stats-program.js';
import { FiniteCheckProgram, INPUTS_PER_CHECK } from '../src/programs/finite-check-program.js';
import { FLAGS_PER_DISPATCH, ShadowFlagsProgram } from '../src/programs/shadow-flags-program.js';
import { UpdateProgram, type Direction, type Filter } from '../src/programs/update-program.js';
import { f32, HYPER_BYTES, HYPER_FIELDS, makeShaderSource, packHyper, type FusedProgram } from '../src/internal/wgsl.js';
import { webgpu } from './webgpu.js';

/** Every program variant a step can dispatch. */
function allPrograms(): FusedProgram[] {
  const programs: FusedProgram[] = [new AdamCountProgram(), new AdamCountProgram(true), new FactoredStatsProgram(), new FactoredStatsProgram(true)];
  for (const lossFromBuffer of [false, true]) {
    for (const adamCount of [false, true]) {
      programs.push(new EmotionProgram({ lossFromBuffer, adamCount }));
      if (!lossFromBuffer) programs.push(new EmotionProgram({ lossFromBuffer, adamCount, guarded: true }));
    }
  }
  for (let k = 1; k <= FLAGS_PER_DISPATCH; k++) programs.push(new ShadowFlagsProgram(k), new ShadowFlagsProgram(k, true));
  for (let k = 1; k <= INPUTS_PER_CHECK; k++) programs.push(new FiniteCheckProgram({ inputs: k, loss: false }), new FiniteCheckProgram({ inputs: k, loss: true }));
  const pairs: [Direction, Filter][] = [['adam', 'none'], ['adam', 'absAtLeast'], ['adam', 'squareAbove'], ['lion', 'absAtLeast'], ['factored', 'factored']];
  for (const [direction, filter] of pairs) {
    for (const shadow of [false, true]) {
      for (const decay of [false, true]) {
        const emotion = filter !== 'none';
        if (shadow && !emotion) continue;
        for (const guarded of [false, true]) {
          programs.push(new UpdateProgram({ direction, filter, emotion, shadow, biasCorrection: !emotion, decay, guarded }));
        }
      }
    }
  }
  return programs;
}

describe('WGSL programs (no device needed)', () => {
  it('cache keys are distinct exactly when the sources are', () => {
    const programs = allPrograms();
    const byKey = new Map<string, string>();
    for (const p of programs) {
      const source = makeShaderSource(p);
      const seen = byKey.get(p.cacheKey);
      if (seen !== undefined) expect(source).toBe(seen);
      byKey.set(p.cacheKey, source);
    }
    expect(new Set(byKey.values()).size).toBe(byKey.size);
  });

  it('no program binds more than the 8 storage buffers WebGPU guarantees per shader stage', () => {
    for (const p of allPrograms()) expect(p.bindings.length, p.cacheKey).toBeLessThanOrEqual(8);
  });

  it('the guarded variants differ from the others only where they must: the same code behind a check of the guard', () => {
    const guarded = new UpdateProgram({ direction: 'factored', filter: 'factored', emotion: true, shadow: true, biasCorrection: false, decay: true, guarded: true });
    expect(guarded.bindings.map((b) => b.name)).toEqual(['param', 'grad', 'row', 'col', 'mask', 'guard', 'shadowValue', 'shadowTaken']);
    expect(guarded.getUserCode()).toMatch(/if \(guard\[0\] == 0\) \{ return; \}/);
    expect(new EmotionProgram({ lossFromBuffer: true, adamCount: true, guarded: true }).bindings.map((b) => b.name)).toEqual([
      'guard', 'stepCount', 'shortAverage', 'longAverage', 'emotion', 'history', 'calm', 'adamCount',
    ]);
    expect(() => new FiniteCheckProgram({ inputs: INPUTS_PER_CHECK + 1, loss: false })).toThrow(/inputs must be an integer/);
  });

  it('a program declares that it reads the uniform block exactly when its code does (WGSL drops unused bindings)', () => {
    for (const p of allPrograms()) expect(p.usesHyper !== false, p.cacheKey).toBe(p.getUserCode().includes('hyper.'));
  });

  it('f32 literals round-trip through Math.fround', () => {
    for (const x of [0.3, 0.7, 0.01, 0.99, 1 / 3, 1e-4, 0.05, 0.005, 5, 0.6]) {
      expect(Math.fround(Number.parseFloat(f32(x)))).toBe(Math.fround(x));
      expect(f32(x)).toMatch(/^[0-9.e+-]+f$/);
    }
  });

  it('packs the uniform block as f32 fields, with nothing that depends on the step count', () => {
    const values = Object.fromEntries(HYPER_FIELDS.map((f, i) => [f, i + 0.5])) as Record<(typeof HYPER_FIELDS)[number], number>;
    const packed = packHyper({ ...values, logB2: Math.log(0.999) });
    expect(packed.byteLength).toBe(HYPER_BYTES);
    expect(HYPER_BYTES % 16).toBe(0);
    const f = new Float32Array(packed);
    expect(f[HYPER_FIELDS.indexOf('negLr')]).toBe(values.negLr);
    expect(f[HYPER_FIELDS.indexOf('logB2')]).toBe(Math.fround(Math.log(0.999)));
    // counts, first-step and window flags, bias corrections: all read from state buffers
    for (const gone of ['first', 'filled', 'bc1', 'bc2', 'count']) expect(HYPER_FIELDS as readonly string[]).not.toContain(gone);
  });

  it('rejects a shadow-flags program of a size it cannot bind', () => {
    expect(() => new ShadowFlagsProgram(FLAGS_PER_DISPATCH + 1)).toThrow(/count must be an integer/);
  });
});

describe.skipIf(!webgpu.ok)('WGSL programs on the device', () => {
  beforeAll(async () => {
    await tf.setBackend('webgpu');
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('every variant compiles and builds a pipeline without validation errors', async () => {
    const { device } = tf.backend() as unknown as { device: GPUDevice };
    for (const program of allPrograms()) {
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code: makeShaderSource(program) });
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
      expect(errors, program.cacheKey).toEqual([]);
      const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      pipeline.getBindGroupLayout(0);
      const error = await device.popErrorScope();
      expect(error?.message, program.cacheKey).toBeUndefined();
    }
  });
});
