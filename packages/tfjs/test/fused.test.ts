import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { registerFusedKernel, type FusedKernel, type GradientTransformation, type StateValue } from '@emosens/core';
import { TransformOptimizer, type NonFinitePolicy } from '../src/index.js';
import { bits, bowl, momentumSgd, type MomentumState } from './helpers.js';

/** momentumSgd(0.1, 0.5), marked as fusable under the key 'tfjsTestMomentum'. */
function fusable(): GradientTransformation<StateValue> {
  return { ...(momentumSgd(0.1, 0.5) as unknown as GradientTransformation<StateValue>), fused: { key: 'tfjsTestMomentum', options: {} } };
}

/** The same step written directly on the variables, as a backend kernel would. */
const kernel: FusedKernel = {
  name: 'tfjsTestMomentum/cpu',
  step({ params, grads, state }) {
    const s = state as MomentumState;
    const m: Record<string, tf.Tensor> = { ...s.m };
    for (const [name, g] of Object.entries(grads)) {
      m[name] = tf.tidy(() => tf.add(tf.mul(s.m[name]!, 0.5), g));
      tf.tidy(() => params[name]!.assign(tf.sub(params[name]!, tf.mul(m[name]!, 0.1))));
    }
    return { state: { count: s.count + 1, m }, signals: {} };
  },
};

let unregister: (() => void) | undefined;
afterEach(() => unregister?.());

describe('fused kernels', () => {
  const run = (onNonFinite: NonFinitePolicy, fused = true) => {
    const w = tf.variable(tf.tensor1d([0, 0, 0]));
    const opt = new TransformOptimizer(fusable(), { onNonFinite, fused });
    for (let i = 0; i < 3; i++) opt.minimize(bowl(w));
    const out = { path: opt.path, w: bits(w), count: (opt.state as MomentumState).count };
    opt.dispose();
    w.dispose();
    return out;
  };

  it("run in the 'skipExact' and 'throw' modes and agree with the composed path", () => {
    const composed = run('throw');
    expect(composed.path).toBe('composed');
    unregister = registerFusedKernel('tfjsTestMomentum', tf.getBackend(), kernel);
    for (const mode of ['skipExact', 'throw'] as const) {
      const fused = run(mode);
      expect(fused.path).toBe('fused');
      expect(fused.count).toBe(3);
      expect(fused.w).toEqual(composed.w);
    }
    expect(run('throw', false).path).toBe('composed');
  });

  it("run in the default 'skip' mode when they guard non-finite input, and skip a bad step themselves", () => {
    const seen: (boolean | undefined)[] = [];
    const guarding: FusedKernel = {
      name: 'tfjsTestMomentum/guarding',
      guardsNonFinite: true,
      step(args) {
        seen.push(args.skipNonFinite);
        const bad = Object.values(args.grads).some((g) => g.dataSync().some((x) => !Number.isFinite(x)));
        return bad ? { state: args.state, signals: {}, finite: false } : { ...kernel.step(args), finite: true };
      },
    };
    const composed = run('skip', false);
    unregister = registerFusedKernel('tfjsTestMomentum', tf.getBackend(), guarding);
    const fused = run('skip');
    expect(fused.path).toBe('fused');
    expect(fused.count).toBe(3);
    expect(fused.w).toEqual(composed.w);
    expect(seen).toEqual([true, true, true]);

    // a bad step: the kernel reports finite: false, the counter moves, nothing else does
    const w = tf.variable(tf.tensor1d([1, 2, 3]));
    const opt = new TransformOptimizer(fusable());
    opt.minimize(bowl(w));
    const before = { w: bits(w), m: (opt.state as MomentumState).m[w.name] };
    const g = tf.tensor1d([0, Number.NaN, 0]);
    opt.applyGradients({ [w.name]: g });
    expect(opt.path).toBe('fused');
    expect(opt.readSkippedSteps()).toBe(1);
    expect(bits(w)).toEqual(before.w);
    expect((opt.state as MomentumState).m[w.name]).toBe(before.m); // the same tensor, not written
    expect((opt.state as MomentumState).count).toBe(1); // the kernel did not advance it either
    expect(opt.iterations).toBe(2);
    opt.dispose();
    tf.dispose([w, g]);
  });

  it("are not used in the 'skip' mode when they do not guard: the composed step runs under the guard", () => {
    unregister = registerFusedKernel('tfjsTestMomentum', tf.getBackend(), kernel);
    expect(run('skip').path).toBe('composed');
  });
});
