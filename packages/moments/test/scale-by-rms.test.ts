import * as tf from '@tensorflow/tfjs-core';
import { disposeReplaced, runTransform } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { scaleByRms } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());
const p = { x: tf.zeros([1]) };

describe('scaleByRms (torch RMSprop without lr)', () => {
  it('one step and a second by hand', () => {
    // step 1, u = 2: v = 0.01 * 4 = 0.04, out = 2 / (sqrt(0.04) + 1e-8) = 2 / 0.2 = 10
    // step 2, u = -1: v = 0.99 * 0.04 + 0.01 * 1 = 0.0496, out = -1 / sqrt(0.0496) = -1 / 0.2227106 = -4.490133
    const t = scaleByRms();
    const r1 = runTransform(t, p, t.init(p), { x: tf.tensor1d([2]) });
    expect(v(r1.updates.x)[0]).toBeCloseTo(10, 5);
    expect(v(r1.state.nu.x)[0]).toBeCloseTo(0.04, 7);
    expect(r1.state.mu).toEqual({});
    const r2 = runTransform(t, p, r1.state, { x: tf.tensor1d([-1]) });
    expect(v(r2.updates.x)[0]).toBeCloseTo(-4.490133, 5);
  });

  it('centered: divides by sqrt(v - m^2) + eps', () => {
    // alpha 0.9. step 1, u = 2: v = 0.4, m = 0.2, v - m^2 = 0.36, out = 2 / 0.6 = 3.333333
    // step 2, u = -1: v = 0.36 + 0.1 = 0.46, m = 0.18 - 0.1 = 0.08, v - m^2 = 0.4536,
    //   out = -1 / sqrt(0.4536) = -1 / 0.6734983 = -1.484785
    const t = scaleByRms({ alpha: 0.9, centered: true });
    const r1 = runTransform(t, p, t.init(p), { x: tf.tensor1d([2]) });
    expect(v(r1.updates.x)[0]).toBeCloseTo(3.333333, 5);
    expect(v(r1.state.mu.x)[0]).toBeCloseTo(0.2, 6);
    const r2 = runTransform(t, p, r1.state, { x: tf.tensor1d([-1]) });
    expect(v(r2.updates.x)[0]).toBeCloseTo(-1.484785, 5);
  });

  it('initialScale starts the average', () => {
    // v = 0.99 * 1 + 0.01 * 4 = 1.03, out = 2 / sqrt(1.03) = 1.970659
    const t = scaleByRms({ initialScale: 1 });
    expect(v(t.init(p).nu.x)).toEqual([1]);
    const r = runTransform(t, p, t.init(p), { x: tf.tensor1d([2]) });
    expect(v(r.updates.x)[0]).toBeCloseTo(1.970659, 5);
  });

  it('validates options, naming them', () => {
    expect(() => scaleByRms({ alpha: 1.5 })).toThrowError(/scaleByRms: option 'alpha' must be in \[0, 1\]/);
    expect(() => scaleByRms({ eps: -1 })).toThrowError(/option 'eps'/);
    expect(() => scaleByRms({ initialScale: -1 })).toThrowError(/option 'initialScale'/);
    expect(() => scaleByRms({ centered: 1 as unknown as boolean })).toThrowError(/option 'centered' must be true or false/);
  });

  it('releases everything but the new state and updates', () => {
    for (const centered of [false, true]) {
      const t = scaleByRms({ centered });
      let state = t.init(p);
      const g = { x: tf.tensor1d([1]) };
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        const r = runTransform(t, p, state, g);
        disposeReplaced(state, r.state);
        state = r.state;
        expect(tf.memory().numTensors).toBe(before + 1);
        r.updates.x!.dispose();
      }
    }
  });
});
