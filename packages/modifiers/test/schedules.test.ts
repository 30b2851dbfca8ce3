import * as tf from '@tensorflow/tfjs-core';
import { runTransform } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import {
  constantSchedule,
  cosineDecaySchedule,
  exponentialDecay,
  joinSchedules,
  linearSchedule,
  piecewiseConstantSchedule,
  polynomialSchedule,
  scaleByLearningRate,
  warmupCosineDecaySchedule,
  type Schedule,
} from '../src/index.js';

const at = (s: Schedule, steps: number[]) => steps.map((t) => s(t));
const close = (values: number[]) => values.map((x) => expect.closeTo(x, 12));

describe('constantSchedule', () => {
  it('is the value at every step', () => {
    expect(at(constantSchedule(0.1), [0, 1, 1000])).toEqual([0.1, 0.1, 0.1]);
  });
  it('refuses a value that is not finite', () => {
    expect(() => constantSchedule(NaN)).toThrow(/constantSchedule: option 'value' must be a finite number, got NaN/);
  });
});

describe('linearSchedule', () => {
  it('holds initValue until transitionBegin, moves linearly, then holds endValue', () => {
    const s = linearSchedule({ initValue: 1, endValue: 0.1, transitionSteps: 9, transitionBegin: 2 });
    // c = clamp(t - 2, 0, 9); value = 0.9 * (1 - c / 9) + 0.1
    // t = 0, 2: c = 0 -> 1;  t = 5: c = 3 -> 0.9 * 2/3 + 0.1 = 0.7;  t = 11, 100: c = 9 -> 0.1
    expect(at(s, [0, 2, 5, 11, 100])).toEqual(close([1, 1, 0.7, 0.1, 0.1]));
  });
  it('refuses transitionSteps < 1 and a negative transitionBegin', () => {
    expect(() => linearSchedule({ initValue: 1, endValue: 0, transitionSteps: 0 })).toThrow(/linearSchedule: option 'transitionSteps' must be an integer >= 1, got 0/);
    expect(() => linearSchedule({ initValue: 1, endValue: 0, transitionSteps: 2, transitionBegin: -1 })).toThrow(/option 'transitionBegin' must be an integer >= 0/);
    expect(() => linearSchedule({ initValue: 1, endValue: Infinity, transitionSteps: 2 })).toThrow(/option 'endValue' must be a finite number/);
  });
});

describe('polynomialSchedule', () => {
  it('follows (init - end) * (1 - c / steps)^power + end', () => {
    const s = polynomialSchedule({ initValue: 1, endValue: 0, power: 2, transitionSteps: 4 });
    // t = 1: (3/4)^2 = 0.5625;  t = 2: (1/2)^2 = 0.25;  t = 4 and after: 0
    expect(at(s, [0, 1, 2, 4, 10])).toEqual([1, 0.5625, 0.25, 0, 0]);
  });
  it('refuses a negative power (its value at the end would not be finite)', () => {
    expect(() => polynomialSchedule({ initValue: 1, endValue: 1, power: -1, transitionSteps: 4 })).toThrow(
      /polynomialSchedule: option 'power' must be in \[0, inf\), got -1/,
    );
  });
});

describe('exponentialDecay', () => {
  it('multiplies by decayRate every transitionSteps steps, continuously or in stairs', () => {
    const smooth = exponentialDecay({ initValue: 1, transitionSteps: 2, decayRate: 0.5 });
    // 0.5^(t / 2): t = 1 -> sqrt(0.5), t = 2 -> 0.5, t = 4 -> 0.25
    expect(at(smooth, [0, 1, 2, 4])).toEqual(close([1, Math.SQRT1_2, 0.5, 0.25]));
    const stairs = exponentialDecay({ initValue: 1, transitionSteps: 2, decayRate: 0.5, staircase: true });
    // 0.5^floor(t / 2): t = 1 -> 1, t = 3 -> 0.5, t = 4 -> 0.25
    expect(at(stairs, [1, 3, 4])).toEqual([1, 0.5, 0.25]);
  });
  it('starts at transitionBegin and stops at endValue', () => {
    const late = exponentialDecay({ initValue: 1, transitionSteps: 1, decayRate: 0.5, transitionBegin: 2 });
    // c = t - 2: t = 1 -> c <= 0 -> 1;  t = 4 -> 0.5^2
    expect(at(late, [1, 2, 4])).toEqual([1, 1, 0.25]);
    // a floor when decaying: max(0.5^4, 0.1) = 0.1
    expect(exponentialDecay({ initValue: 1, transitionSteps: 1, decayRate: 0.5, endValue: 0.1 })(4)).toBe(0.1);
    // a ceiling when growing: min(2^4, 3) = 3
    expect(exponentialDecay({ initValue: 1, transitionSteps: 1, decayRate: 2, endValue: 3 })(4)).toBe(3);
    // 0 stays 0 even where decayRate^p overflows (never 0 * inf = NaN)
    expect(exponentialDecay({ initValue: 0, transitionSteps: 1, decayRate: 10 })(1000)).toBe(0);
  });
  it('refuses a decayRate that is not positive and a non-boolean staircase', () => {
    expect(() => exponentialDecay({ initValue: 1, transitionSteps: 1, decayRate: 0 })).toThrow(/exponentialDecay: option 'decayRate' must be in \(0, inf\)/);
    expect(() => exponentialDecay({ initValue: 1, transitionSteps: 1.5, decayRate: 0.5 })).toThrow(/option 'transitionSteps' must be an integer >= 1/);
    expect(() => exponentialDecay({ initValue: 1, transitionSteps: 1, decayRate: 0.5, staircase: 1 as unknown as boolean })).toThrow(
      /option 'staircase' must be true or false/,
    );
  });
});

describe('cosineDecaySchedule', () => {
  it('decays along half a cosine to alpha * initValue, then holds', () => {
    const s = cosineDecaySchedule({ initValue: 2, decaySteps: 4, alpha: 0.1 });
    // value = 2 * (0.9 * 0.5 * (1 + cos(pi t / 4)) + 0.1)
    // t = 0: 2;  t = 1: 2 * (0.9 * 0.5 * (1 + sqrt(0.5)) + 0.1);  t = 2: cos = 0 -> 2 * 0.55 = 1.1;  t >= 4: 0.2
    expect(at(s, [0, 1, 2, 4, 8])).toEqual(close([2, 2 * (0.45 * (1 + Math.SQRT1_2) + 0.1), 1.1, 0.2, 0.2]));
    // alpha defaults to 0
    expect(cosineDecaySchedule({ initValue: 1, decaySteps: 2 })(2)).toBeCloseTo(0, 12);
  });
  it('refuses alpha outside [0, 1] and decaySteps < 1', () => {
    expect(() => cosineDecaySchedule({ initValue: 1, decaySteps: 4, alpha: 2 })).toThrow(/cosineDecaySchedule: option 'alpha' must be in \[0, 1\], got 2/);
    expect(() => cosineDecaySchedule({ initValue: 1, decaySteps: 0 })).toThrow(/option 'decaySteps' must be an integer >= 1/);
  });
});

describe('warmupCosineDecaySchedule', () => {
  it('warms up linearly to the peak, then decays along a cosine to endValue', () => {
    const s = warmupCosineDecaySchedule({ initValue: 0, peakValue: 1, warmupSteps: 2, decaySteps: 6, endValue: 0.2 });
    // t < 2: t / 2;  t >= 2: c = min(t - 2, 4), 0.2 + 0.8 * 0.5 * (1 + cos(pi c / 4))
    // t = 2: 1;  t = 3: 0.2 + 0.4 * (1 + sqrt(0.5));  t = 4: 0.2 + 0.4 = 0.6;  t >= 6: 0.2
    expect(at(s, [0, 1, 2, 3, 4, 6, 50])).toEqual(close([0, 0.5, 1, 0.2 + 0.4 * (1 + Math.SQRT1_2), 0.6, 0.2, 0.2]));
    // without warm-up it starts at the peak
    expect(warmupCosineDecaySchedule({ initValue: 0, peakValue: 3, warmupSteps: 0, decaySteps: 2 })(0)).toBe(3);
    // a peak of 0 stays 0 (optax: alpha = 0 then)
    expect(at(warmupCosineDecaySchedule({ initValue: 0, peakValue: 0, warmupSteps: 1, decaySteps: 3 }), [0, 1, 2, 3])).toEqual(close([0, 0, 0, 0]));
  });
  it('refuses decaySteps <= warmupSteps', () => {
    expect(() => warmupCosineDecaySchedule({ initValue: 0, peakValue: 1, warmupSteps: 5, decaySteps: 5 })).toThrow(
      /warmupCosineDecaySchedule: option 'decaySteps' must be an integer >= 6, got 5/,
    );
    expect(() => warmupCosineDecaySchedule({ initValue: 0, peakValue: NaN, warmupSteps: 1, decaySteps: 5 })).toThrow(/option 'peakValue' must be a finite number/);
  });
});

describe('joinSchedules', () => {
  it('switches schedule at each boundary, restarting its step count', () => {
    const s = joinSchedules([constantSchedule(1), linearSchedule({ initValue: 1, endValue: 0, transitionSteps: 2 }), constantSchedule(7)], [3, 5]);
    // t < 3: 1;  t = 3, 4: linear at 0, 1 -> 1, 0.5;  t >= 5: 7
    expect(at(s, [0, 2, 3, 4, 5, 9])).toEqual([1, 1, 1, 0.5, 7, 7]);
  });
  it('refuses boundaries that do not match the schedules or do not increase', () => {
    const c = constantSchedule(1);
    expect(() => joinSchedules([c, c], [])).toThrow(/joinSchedules: option 'boundaries' must hold one boundary fewer than 'schedules' \(1\), got 0/);
    expect(() => joinSchedules([c, c, c], [3, 3])).toThrow(/joinSchedules: option 'boundaries\[1\]' must be an integer >= 4, got 3/);
    expect(() => joinSchedules([], [])).toThrow(/option 'schedules' must be a non-empty array/);
  });
});

describe('piecewiseConstantSchedule', () => {
  it('multiplies by each scale from its boundary on', () => {
    const s = piecewiseConstantSchedule(1, { 4: 0.5, 2: 0.1 });
    // t < 2: 1;  2 <= t < 4: 0.1;  t >= 4: 0.1 * 0.5
    expect(at(s, [0, 1, 2, 3, 4, 100])).toEqual(close([1, 1, 0.1, 0.1, 0.05, 0.05]));
    expect(at(piecewiseConstantSchedule(0.3), [0, 10])).toEqual([0.3, 0.3]);
  });
  it('refuses negative scales and steps that are not integers >= 0', () => {
    expect(() => piecewiseConstantSchedule(1, { 2: -1 })).toThrow(/piecewiseConstantSchedule: option 'boundariesAndScales\[2\]' must be in \[0, inf\), got -1/);
    expect(() => piecewiseConstantSchedule(1, { 1.5: 0.1 })).toThrow(/must have integer steps >= 0 as keys, got '1.5'/);
    expect(() => piecewiseConstantSchedule(1, { [-1]: 0.1 })).toThrow(/got '-1'/);
  });
});

describe('with scaleByLearningRate', () => {
  it('step t uses the schedule at t (0 on the first step)', () => {
    const lr = scaleByLearningRate(piecewiseConstantSchedule(1, { 1: 0.5, 2: 0.5 }));
    const params = { x: tf.zeros([1]) };
    let state = lr.init(params);
    const seen: number[] = [];
    for (let t = 0; t < 3; t++) {
      const r = runTransform(lr, params, state, { x: tf.tensor1d([2]) });
      seen.push(r.updates.x!.dataSync()[0]!);
      state = r.state;
    }
    // -lr * 2 with lr = 1, 0.5, 0.25
    expect(seen).toEqual([-2, -1, -0.5]);
  });
});
