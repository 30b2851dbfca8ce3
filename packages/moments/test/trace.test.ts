import * as tf from '@tensorflow/tfjs-core';
import { disposeReplaced, runTransform } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { trace } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());
const p = { x: tf.zeros([2]) };

describe('trace (torch SGD momentum)', () => {
  it('the first step sets the buffer to the update, the second decays it', () => {
    // step 1, u = [2, -4]: buf = u (no dampening on the first step), out = buf = [2, -4]
    // step 2, u = [-1, 1]: buf = 0.9 * [2, -4] + [-1, 1] = [0.8, -2.6], out = buf
    const t = trace({ decay: 0.9 });
    const r1 = runTransform(t, p, t.init(p), { x: tf.tensor1d([2, -4]) });
    expect(v(r1.updates.x)).toEqual([2, -4]);
    expect(v(r1.state.trace.x)).toEqual([2, -4]);
    expect(v(r1.state.count)).toEqual([1]);
    const r2 = runTransform(t, p, r1.state, { x: tf.tensor1d([-1, 1]) });
    expect(v(r2.updates.x)).toEqual([expect.closeTo(0.8, 6), expect.closeTo(-2.6, 6)]);
    expect(v(r2.state.count)).toEqual([2]);
  });

  it('nesterov outputs u + decay * buf', () => {
    // step 1, u = 2: buf = 2, out = 2 + 0.9 * 2 = 3.8
    // step 2, u = -1: buf = 0.9 * 2 - 1 = 0.8, out = -1 + 0.9 * 0.8 = -0.28
    const t = trace({ decay: 0.9, nesterov: true });
    const q = { x: tf.zeros([1]) };
    const r1 = runTransform(t, q, t.init(q), { x: tf.tensor1d([2]) });
    expect(v(r1.updates.x)[0]).toBeCloseTo(3.8, 6);
    const r2 = runTransform(t, q, r1.state, { x: tf.tensor1d([-1]) });
    expect(v(r2.updates.x)[0]).toBeCloseTo(-0.28, 6);
  });

  it('dampening applies from the second step on', () => {
    // step 1, u = 2: buf = 2 (undamped); step 2, u = -1: buf = 0.9 * 2 + (1 - 0.5) * -1 = 1.3
    const t = trace({ decay: 0.9, dampening: 0.5 });
    const q = { x: tf.zeros([1]) };
    const r1 = runTransform(t, q, t.init(q), { x: tf.tensor1d([2]) });
    expect(v(r1.updates.x)).toEqual([2]);
    const r2 = runTransform(t, q, r1.state, { x: tf.tensor1d([-1]) });
    expect(v(r2.updates.x)[0]).toBeCloseTo(1.3, 6);
  });

  it('validates options, naming them', () => {
    expect(() => trace({ decay: -0.1 })).toThrowError(/trace: option 'decay' must be in \[0, inf\)/);
    expect(() => trace({} as { decay: number })).toThrowError(/option 'decay' must be a finite number/);
    expect(() => trace({ decay: 0.9, dampening: 2 })).toThrowError(/option 'dampening'/);
    expect(() => trace({ decay: 0, nesterov: true })).toThrowError(/option 'nesterov' needs decay > 0 and dampening 0/);
    expect(() => trace({ decay: 0.9, nesterov: true, dampening: 0.1 })).toThrowError(/option 'nesterov'/);
    expect(() => trace({ decay: 0.9, nesterov: true }).init(p)).not.toThrow();
  });

  it('releases everything but the new state and updates', () => {
    const t = trace({ decay: 0.9, nesterov: true });
    let state = t.init(p);
    const g = { x: tf.tensor1d([1, 2]) };
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const r = runTransform(t, p, state, g);
      disposeReplaced(state, r.state);
      state = r.state;
      expect(tf.memory().numTensors).toBe(before + 1); // the update; the state is replaced one for one
      r.updates.x!.dispose();
    }
  });
});
