import * as tf from '@tensorflow/tfjs-core';
import { runTransform } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import {
  constantSchedule,
  cosineDecaySchedule,
  cosineOnecycleSchedule,
  cosineWarmRestartsSchedule,
  exponentialDecay,
  joinSchedules,
  linearOnecycleSchedule,
  linearSchedule,
  piecewiseConstantSchedule,
  polynomialSchedule,
  scaleByLearningRate,
  stepDecaySchedule,
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

describe('stepDecaySchedule', () => {
  it('multiplies by gamma every stepSize steps (torch StepLR)', () => {
    const s = stepDecaySchedule({ initValue: 1, stepSize: 3, gamma: 0.5 });
    // 0.5^floor(t / 3): t = 0..2 -> 1, t = 3..5 -> 0.5, t = 6 -> 0.25
    expect(at(s, [0, 2, 3, 5, 6])).toEqual([1, 1, 0.5, 0.5, 0.25]);
    // gamma defaults to 0.1, as torch; 0 stays 0
    expect(stepDecaySchedule({ initValue: 2, stepSize: 1 })(2)).toBeCloseTo(0.02, 12);
    expect(stepDecaySchedule({ initValue: 0, stepSize: 1, gamma: 1e300 })(10)).toBe(0);
  });
  it('refuses a stepSize < 1 and a negative gamma', () => {
    expect(() => stepDecaySchedule({ initValue: 1, stepSize: 0 })).toThrow(/stepDecaySchedule: option 'stepSize' must be an integer >= 1, got 0/);
    expect(() => stepDecaySchedule({ initValue: 1, stepSize: 1, gamma: -0.5 })).toThrow(/stepDecaySchedule: option 'gamma' must be in \[0, inf\), got -0.5/);
  });
});

describe('cosineOnecycleSchedule and linearOnecycleSchedule', () => {
  // transitionSteps 10, pctStart 0.3: torch's phase 1 ends at 0.3 * 10 - 1 = 2, phase 2 at 9.
  // peak 1, divFactor 4 -> start 0.25, finalDivFactor 5 -> final 0.05
  const options = { transitionSteps: 10, peakValue: 1, divFactor: 4, finalDivFactor: 5 };
  it('rises to the peak at step pctStart * transitionSteps - 1 and falls to the final value at transitionSteps - 1 (torch)', () => {
    const cos = cosineOnecycleSchedule(options);
    // t = 1: halfway up the cosine, 1 + (0.25 - 1) / 2 * (1 + cos(pi / 2)) = 0.625; t = 2: the peak
    // t = 9: the final value; after: held; t = 5.5 would be halfway down: (1 + 0.05) / 2
    expect(at(cos, [0, 1, 2, 9, 20])).toEqual(close([0.25, 0.625, 1, 0.05, 0.05]));
    // t = 4: pct = 2 / 7 down the second cosine
    expect(cos(4)).toBeCloseTo(0.05 + 0.475 * (1 + Math.cos((Math.PI * 2) / 7)), 12);
    const lin = linearOnecycleSchedule(options);
    // t = 1: 0.25 + 0.75 / 2;  t = 4: 1 - 0.95 * 2 / 7
    expect(at(lin, [0, 1, 2, 4, 9, 20])).toEqual(close([0.25, 0.625, 1, 1 - (0.95 * 2) / 7, 0.05, 0.05]));
  });
  it('takes the defaults of torch OneCycleLR (pctStart 0.3, divFactor 25, finalDivFactor 1e4)', () => {
    const s = cosineOnecycleSchedule({ transitionSteps: 100, peakValue: 1 });
    expect(at(s, [0, 29, 99])).toEqual(close([0.04, 1, 0.04 / 1e4]));
  });
  it('refuses options without a step in the rise, and bad factors', () => {
    expect(() => cosineOnecycleSchedule({ transitionSteps: 3, peakValue: 1 })).toThrow(/cosineOnecycleSchedule: options 'pctStart' \* 'transitionSteps' must be > 1/);
    expect(() => linearOnecycleSchedule({ transitionSteps: 10, peakValue: 1, pctStart: 1 })).toThrow(/linearOnecycleSchedule: option 'pctStart' must be in \(0, 1\), got 1/);
    expect(() => cosineOnecycleSchedule({ transitionSteps: 10, peakValue: 1, divFactor: 0 })).toThrow(/option 'divFactor' must be in \(0, inf\)/);
    expect(() => cosineOnecycleSchedule({ transitionSteps: 1, peakValue: 1 })).toThrow(/option 'transitionSteps' must be an integer >= 2/);
  });
});

describe('cosineWarmRestartsSchedule', () => {
  it('restarts the cosine after each period, periods growing by periodMultiplier (torch CosineAnnealingWarmRestarts)', () => {
    const s = cosineWarmRestartsSchedule({ initValue: 1, firstPeriod: 2, periodMultiplier: 2, minValue: 0.2 });
    // periods [0, 2), [2, 6), [6, 14): value 0.2 + 0.8 * (1 + cos(pi c / T)) / 2
    // t = 1: c = 1, T = 2 -> 0.6;  t = 2: restart -> 1;  t = 3: c = 1, T = 4 -> 0.2 + 0.4 * (1 + sqrt(0.5));  t = 6: restart
    expect(at(s, [0, 1, 2, 3, 4, 6])).toEqual(close([1, 0.6, 1, 0.2 + 0.4 * (1 + Math.SQRT1_2), 0.6, 1]));
    // periodMultiplier 1: every firstPeriod steps, minValue 0 by default
    expect(at(cosineWarmRestartsSchedule({ initValue: 1, firstPeriod: 4 }), [0, 2, 4, 6, 8])).toEqual(close([1, 0.5, 1, 0.5, 1]));
  });
  it('refuses a firstPeriod < 1 and a periodMultiplier that is not an integer >= 1', () => {
    expect(() => cosineWarmRestartsSchedule({ initValue: 1, firstPeriod: 0 })).toThrow(/cosineWarmRestartsSchedule: option 'firstPeriod' must be an integer >= 1, got 0/);
    expect(() => cosineWarmRestartsSchedule({ initValue: 1, firstPeriod: 2, periodMultiplier: 1.5 })).toThrow(/option 'periodMultiplier' must be an integer >= 1, got 1.5/);
    expect(() => cosineWarmRestartsSchedule({ initValue: 1, firstPeriod: 2, minValue: NaN })).toThrow(/option 'minValue' must be a finite number/);
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
