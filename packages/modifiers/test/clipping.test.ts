import * as tf from '@tensorflow/tfjs-core';
import { chain, explainFusion, runTransform, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { scaleByAdam } from '@emosens/moments';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle
// (backend-cpu's tests depend on @emosens/modifiers), which turbo refuses.
import { registerCpuKernels } from '../../backend-cpu/src/index.js';
import { clip, clipByBlockRms, clipByGlobalNorm, scaleByLearningRate, warmupCosineDecaySchedule } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());

function run<S extends StateValue>(t: GradientTransformation<S>, grads: Record<string, number[]>) {
  const params = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.zeros([g.length])]));
  const r = runTransform(t, params, t.init(params), Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.tensor1d(g)])));
  return r.updates;
}

describe('clip', () => {
  it('clamps each element to [-maxDelta, maxDelta]', () => {
    // min(max(u, -1), 1): 3 -> 1, -0.25 stays, -5 -> -1, 1 stays
    expect(v(run(clip(1), { x: [3, -0.25, -5, 1] }).x)).toEqual([1, -0.25, -1, 1]);
  });

  it('refuses a maxDelta that is not positive, naming the option', () => {
    expect(() => clip(0)).toThrow(/clip: option 'maxDelta' must be in \(0, inf\)/);
    expect(() => clip(NaN)).toThrow(/clip: option 'maxDelta' must be a finite number/);
  });
});

describe('clipByGlobalNorm', () => {
  it('scales all parameters together by min(1, maxNorm / (norm + 1e-6))', () => {
    // norm = sqrt(3^2 + 4^2 + 0^2) = 5, scale = 1 / (5 + 1e-6): (0.6, 0.8) and (0)
    const u = run(clipByGlobalNorm(1), { w: [3, 4], b: [0] });
    expect(v(u.w)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)]);
    expect(v(u.b)).toEqual([0]);
    // the norm spans the parameters: sqrt(1 + 4 + 4) = 3, scale = 1.5 / 3 = 0.5 in both
    const both = run(clipByGlobalNorm(1.5), { w: [1, 2], b: [2] });
    expect(v(both.w)).toEqual([expect.closeTo(0.5, 6), expect.closeTo(1, 6)]);
    expect(v(both.b)).toEqual([expect.closeTo(1, 6)]);
  });

  it('lets a small or zero norm through unchanged', () => {
    // norm 0.5: 1 / 0.500001 > 1, so the scale is 1
    expect(v(run(clipByGlobalNorm(1), { w: [0.3, 0.4] }).w)).toEqual([Math.fround(0.3), Math.fround(0.4)]);
    // norm 0: 1 / 1e-6 > 1
    expect(v(run(clipByGlobalNorm(1), { w: [0, 0] }).w)).toEqual([0, 0]);
  });

  it('refuses a maxNorm that is not positive, naming the option', () => {
    expect(() => clipByGlobalNorm(0)).toThrow(/clipByGlobalNorm: option 'maxNorm' must be in \(0, inf\)/);
    expect(() => clipByGlobalNorm(-1)).toThrow(/INVALID_OPTION|maxNorm/);
  });
});

describe('clipByBlockRms', () => {
  it('clips each parameter on its own: u / max(1, rms(u) / threshold)', () => {
    // w: rms = sqrt((9 + 16) / 2) = sqrt(12.5), so w / sqrt(12.5) = (0.848528, 1.131371)
    // b: rms = 0.5 <= 1, unchanged (a global clip would have scaled it too)
    const u = run(clipByBlockRms(1), { w: [3, 4], b: [0.5] });
    expect(v(u.w)).toEqual([expect.closeTo(3 / Math.sqrt(12.5), 6), expect.closeTo(4 / Math.sqrt(12.5), 6)]);
    expect(v(u.b)).toEqual([0.5]);
    // threshold 2: rms(w) = sqrt(12.5) = 3.5355 > 2, w * 2 / sqrt(12.5); a zero update stays 0
    const t2 = run(clipByBlockRms(2), { w: [3, 4], z: [0, 0, 0] });
    expect(v(t2.w)).toEqual([expect.closeTo(6 / Math.sqrt(12.5), 6), expect.closeTo(8 / Math.sqrt(12.5), 6)]);
    expect(v(t2.z)).toEqual([0, 0, 0]);
  });

  it('refuses a threshold that is not positive, naming the option', () => {
    expect(() => clipByBlockRms(0)).toThrow(/clipByBlockRms: option 'threshold' must be in \(0, inf\)/);
  });
});

describe('no leaks', () => {
  for (const [label, block] of [
    ['clip', clip(0.5)],
    ['clipByGlobalNorm', clipByGlobalNorm(0.5)],
    ['clipByBlockRms', clipByBlockRms(0.5)],
  ] as const) {
    it(`${label}: only the new updates remain`, () => {
      const params = { w: tf.ones([3]), b: tf.ones([2]) };
      const grads = { w: tf.tensor1d([2, -2, 2]), b: tf.tensor1d([1, 3]) };
      const state = block.init(params);
      const before = tf.memory().numTensors;
      const r = runTransform(block, params, state, grads);
      expect(tf.memory().numTensors).toBe(before + 2);
      tf.dispose([...Object.values(r.updates), ...Object.values(params), ...Object.values(grads)]);
    });
  }
});

describe('fused on the typed-array target, equal to composed', () => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerCpuKernels({ precision: 'exact' });
  });
  afterAll(() => unregister());

  const schedule = () => warmupCosineDecaySchedule({ initValue: 0, peakValue: 0.05, warmupSteps: 3, decaySteps: 10, endValue: 0.001 });
  const chains: Record<string, () => GradientTransformation<StateValue>> = {
    clipByGlobalNorm: () => chain(clipByGlobalNorm(1), scaleByAdam(), scaleByLearningRate(schedule())),
    clip: () => chain(clip(0.3), scaleByAdam(), scaleByLearningRate(schedule())),
    clipByBlockRms: () => chain(scaleByAdam(), clipByBlockRms(0.5), scaleByLearningRate(schedule())),
  };

  for (const [label, make] of Object.entries(chains)) {
    it(`${label}: 12 steps bit for bit`, () => {
      expect(explainFusion(make(), 'cpu')).toEqual({ fused: true, target: 'typed-array' });
      const init = { w: [0.5, -1, 2, 0.25, -0.75, 1.5], b: [0.1, -0.2] };
      const shapes = { w: [2, 3], b: [2] };
      const makeParams = () => ({ w: tf.variable(tf.tensor(init.w, shapes.w)), b: tf.variable(tf.tensor(init.b, shapes.b)) });
      const pf = makeParams();
      const pc = makeParams();
      const fused = statefulOptimizer(make(), pf);
      const composed = statefulOptimizer(make(), pc, { fused: false });
      const before = tf.memory().numTensors;
      for (let t = 0; t < 12; t++) {
        // gradients of changing size, so the global norm clips on some steps and not on others
        const size = t % 3 === 0 ? 4 : 0.2;
        const g = { w: tf.tensor(init.w.map((x, i) => size * Math.sin(x + i + t)), shapes.w), b: tf.tensor(init.b.map((x, i) => size * Math.cos(x + i * t)), shapes.b) };
        fused.step(g);
        composed.step(g);
        tf.dispose(Object.values(g));
      }
      expect(fused.path).toBe('fused');
      expect(composed.path).toBe('composed');
      expect(v(pf.w)).toEqual(v(pc.w));
      expect(v(pf.b)).toEqual(v(pc.b));
      expect(v(pf.w)).not.toEqual(init.w); // it moved
      expect(tf.memory().numTensors).toBe(before); // steady state: nothing leaks per step
      fused.dispose();
      composed.dispose();
      tf.dispose([...Object.values(pf), ...Object.values(pc)]);
    });
  }
});
