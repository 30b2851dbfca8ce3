import * as tf from '@tensorflow/tfjs-core';
import { disposeReplaced, runTransform, statefulOptimizer } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { ema } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());

/** Each step's update of ema on `grads` (composed), as the parameter's change. */
function steps(options: Parameters<typeof ema>[0], grads: number[][]): number[][] {
  const params = { w: tf.variable(tf.zeros([grads[0]!.length])) };
  const opt = statefulOptimizer(ema(options), params, { fused: false });
  let before = v(params.w);
  const out = grads.map((g) => {
    const grad = { w: tf.tensor1d(g) };
    opt.step(grad);
    grad.w.dispose();
    const after = v(params.w);
    const u = after.map((x, k) => x - before[k]!);
    before = after;
    return u;
  });
  opt.dispose();
  params.w.dispose();
  return out;
}

describe('ema (optax ema)', () => {
  const grads = [
    [1, -2],
    [3, 0.5],
    [-1, 4],
  ];

  it('debias: false gives the plain average m = decay m + (1 - decay) u, from 0', () => {
    // decay 0.5: m1 = (0.5, -1), m2 = (1.75, -0.25), m3 = (0.375, 1.875)
    const out = steps({ decay: 0.5, debias: false }, grads);
    [
      [0.5, -1],
      [1.75, -0.25],
      [0.375, 1.875],
    ].forEach((row, t) => row.forEach((x, k) => expect(out[t]![k]).toBeCloseTo(x, 6)));
  });

  it('debias (default) divides by 1 - decay^t', () => {
    // decay 0.5: m1 / 0.5 = u1; m2 / 0.75 = (2.333333, -0.333333); m3 / 0.875 = (0.428571, 2.142857)
    const out = steps({ decay: 0.5 }, grads);
    [
      [1, -2],
      [1.75 / 0.75, -0.25 / 0.75],
      [0.375 / 0.875, 1.875 / 0.875],
    ].forEach((row, t) => row.forEach((x, k) => expect(out[t]![k]).toBeCloseTo(x, 5)));
  });

  it('refuses bad options, naming them', () => {
    expect(() => ema({ decay: 1 })).toThrowError(/ema: option 'decay' must be in \[0, 1\)/);
    expect(() => ema({} as { decay: number })).toThrowError(/option 'decay' must be a finite number/);
    expect(() => ema({ decay: 0.9, debias: 'yes' as unknown as boolean })).toThrowError(/option 'debias'/);
    expect(() => ema(undefined as unknown as { decay: number })).toThrowError(expect.objectContaining({ code: 'INVALID_OPTION' }) as Error);
  });

  it('releases everything but the new state and updates', () => {
    const t = ema({ decay: 0.9 });
    const p = { x: tf.zeros([2]) };
    let state = t.init(p);
    const g = { x: tf.tensor1d([1, 2]) };
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const r = runTransform(t, p, state, g);
      disposeReplaced(state, r.state);
      state = r.state;
      expect(tf.memory().numTensors).toBe(before + 1);
      r.updates.x!.dispose();
    }
  });
});
