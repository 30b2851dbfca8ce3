import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { explainFusion, type GradientTransformation, type StateValue } from '@emosens/core';
import { registerCpuKernels } from '@emosens/backend-cpu';
import { TransformOptimizer, type NonFinitePolicy } from '../src/index.js';
import { bits, bowl, momentumSgd, recordLoss, type MomentumState } from './helpers.js';

const momentum = () => momentumSgd(0.1, 0.5) as unknown as GradientTransformation<StateValue>;

let unregister: (() => void) | undefined;
afterEach(() => {
  unregister?.();
  unregister = undefined;
});

describe('the fused path (a fusion target registered for the backend)', () => {
  const run = (onNonFinite: NonFinitePolicy, fused = true) => {
    const w = tf.variable(tf.tensor1d([0, 0, 0]));
    const opt = new TransformOptimizer(momentum(), { onNonFinite, fused });
    for (let i = 0; i < 3; i++) opt.minimize(bowl(w));
    const out = { path: opt.path, w: bits(w), count: (opt.state as MomentumState).count };
    opt.dispose();
    w.dispose();
    return out;
  };

  it('runs a custom block with a fused form in every mode, and agrees with the composed path', () => {
    const composed = run('throw');
    expect(composed.path).toBe('composed');
    unregister = registerCpuKernels({ precision: 'exact' });
    expect(explainFusion(momentum(), 'cpu')).toEqual({ fused: true, target: 'typed-array' });
    for (const mode of ['skip', 'skipExact', 'throw'] as const) {
      const fused = run(mode);
      expect(fused.path).toBe('fused');
      expect(fused.count).toBe(3); // the number leaf advances on the fused path too
      expect(fused.w).toEqual(composed.w);
    }
    expect(run('throw', false).path).toBe('composed');
  });

  it("in the default 'skip' mode the target skips a bad step itself: the counter moves, nothing else, number leaves included", () => {
    unregister = registerCpuKernels();
    const w = tf.variable(tf.tensor1d([1, 2, 3]));
    const opt = new TransformOptimizer(momentum());
    opt.minimize(bowl(w));
    const before = { w: bits(w), m: (opt.state as MomentumState).m[w.name] };
    const g = tf.tensor1d([0, Number.NaN, 0]);
    opt.applyGradients({ [w.name]: g });
    expect(opt.path).toBe('fused');
    expect(opt.readSkippedSteps()).toBe(1);
    expect(bits(w)).toEqual(before.w);
    expect((opt.state as MomentumState).m[w.name]).toBe(before.m); // the same tensor, not written
    expect((opt.state as MomentumState).count).toBe(1);
    expect(opt.iterations).toBe(2);
    opt.dispose();
    tf.dispose([w, g]);
  });

  it('a chain with a block that has no fused form runs composed, and explainFusion names the block', () => {
    unregister = registerCpuKernels();
    expect(explainFusion(recordLoss() as unknown as GradientTransformation<StateValue>, 'cpu')).toEqual({
      fused: false,
      reason: "block 'recordLoss' has no fused form",
    });
    const w = tf.variable(tf.tensor1d([1, 2, 3]));
    const opt = new TransformOptimizer(recordLoss());
    opt.minimize(bowl(w));
    expect(opt.path).toBe('composed');
    opt.dispose();
    w.dispose();
  });
});
