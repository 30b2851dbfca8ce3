import * as tf from '@tensorflow/tfjs-core';
import {
  chain,
  composedUpdate,
  EmosensError,
  flattenState,
  statefulOptimizer,
  unflattenState,
  type EmptyState,
  type FusionForm,
  type GradientTransformation,
  type StateValue,
} from '@emosens/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// By source path, as in emo-v3-replay.test.ts (a devDependency would close a package cycle).
import { registerCpuKernels } from '../../backend-cpu/src/index.js';
import { emoPulse, trackEmotionV3, type EmoPulseState, type EmotionV3State } from '../src/index.js';

type Values = Record<string, number>;

/** Records the named host values of each step into `log`. */
function probe(log: Values[], names: readonly string[]): GradientTransformation<EmptyState> {
  const name = 'probe';
  const fusion: FusionForm = {
    update(updates, state, _params, context) {
      log.push(Object.fromEntries(names.map((n) => [n, context.readValue(n, name)])));
      return { updates, state };
    },
  };
  return { name, init: () => ({}), update: composedUpdate(name, fusion), fusion };
}

const all = ['emotion', 'trust', 'emotionMedium', 'stepSize', 'shouldStop'] as const;
type V3State = [EmotionV3State, EmoPulseState, EmptyState];

function make(log: Values[], fused = false, options: { skipNonFinite?: boolean; lr?: number } = {}) {
  const w = tf.tensor1d([1, -1]);
  const opt = statefulOptimizer(chain(trackEmotionV3(), emoPulse({ lr: options.lr ?? 1 }), probe(log, all)), { w }, { fused, skipNonFinite: options.skipNonFinite ?? false });
  w.dispose();
  return opt;
}

/** A falling, then flat loss. */
const losses = Array.from({ length: 60 }, (_, t) => 0.02 + 2 * Math.exp(-t / 6));

describe('trackEmotionV3', () => {
  it('first step: every average is the loss, s = 0, trust = copysign(1, 0) = 1; updates pass through', () => {
    const log: Values[] = [];
    const t = trackEmotionV3();
    const opt = make(log);
    const g = { w: tf.tensor1d([0, 0]) };
    opt.step(g, { loss: 2 });
    expect(log[0]).toMatchObject({ emotion: 0, trust: 1, emotionMedium: 2 });
    // 0.3 * 2 + 0.7 * 2, as the reference computes the first step
    expect((opt.state as V3State)[0]).toEqual({ count: 1, short: 0.3 * 2 + 0.7 * 2, medium: 0.05 * 2 + 0.95 * 2, long: 0.01 * 2 + 0.99 * 2 });
    expect(t.init({})).toEqual({ count: 0, short: 0, medium: 0, long: 0 });
    opt.dispose();
    tf.dispose(g.w);
  });

  it('second step by hand, in float64: the comparison ties, so s = tanh(dl); s > 0 while the loss falls', () => {
    // losses 2 then 1:
    //   short = 0.3 + 0.7 * 2 = 1.7,  medium = 0.05 + 0.95 * 2 = 1.95,  long = 0.01 + 0.99 * 2 = 1.99
    //   db = long - short = 0.29000000000000004,  dl = db / 1.99,  dm = db / 1.95;  |dl| >= 0.05
    //   |dm| * sm and |dl| * sl both round to 0.29000000000000004: not less, so s = tanh(dl)
    const log: Values[] = [];
    const opt = make(log);
    const g = { w: tf.tensor1d([0, 0]) };
    opt.step(g, { loss: 2 });
    opt.step(g, { loss: 1 });
    const db = 1.99 - 1.7;
    expect(log[1]!.emotion).toBe(Math.tanh(db / 1.99));
    expect(log[1]!.emotion).toBeCloseTo(0.14470572657450895, 15);
    expect(log[1]!.trust).toBe(1 - Math.tanh(db / 1.99));
    expect(log[1]!.emotionMedium).toBe(1.95);
    opt.dispose();
    tf.dispose(g.w);
  });

  it('throws MISSING_LOSS naming the block, and changes nothing', () => {
    const opt = make([]);
    const g = { w: tf.tensor1d([0, 0]) };
    let error: unknown;
    try {
      opt.step(g);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EmosensError);
    expect((error as EmosensError).code).toBe('MISSING_LOSS');
    expect((error as EmosensError).message).toMatch(/trackEmotionV3/);
    expect((opt.state as V3State)[0].count).toBe(0);
    opt.dispose();
    tf.dispose(g.w);
  });

  it('a non-finite loss leaves both host states unchanged, publishes NaN, and the guarded step is skipped', () => {
    const log: Values[] = [];
    const opt = make(log, false, { skipNonFinite: true });
    const g = { w: tf.tensor1d([1, 1]) };
    opt.step(g, { loss: 2 });
    opt.step(g, { loss: 1.5 });
    const state = JSON.stringify(opt.state);
    const w = Array.from(opt.params.w!.dataSync());
    // a number NaN: the step engine skips the step before any block runs
    opt.step(g, { loss: NaN });
    expect(log).toHaveLength(2);
    // a tensor NaN: the blocks run (the loss is read on the host), the device guard skips the rest
    const nan = tf.scalar(NaN);
    opt.step(g, { loss: nan });
    nan.dispose();
    expect(JSON.stringify(opt.state)).toBe(state);
    expect(Array.from(opt.params.w!.dataSync())).toEqual(w);
    expect(log[2]).toEqual({ emotion: NaN, trust: NaN, emotionMedium: NaN, stepSize: NaN, shouldStop: 0 });
    // the next finite step goes on as if the NaN step had not happened
    opt.step(g, { loss: 1.2 });
    const ref: Values[] = [];
    const plain = make(ref);
    [2, 1.5, 1.2].forEach((loss) => plain.step(g, { loss }));
    expect(log[3]).toEqual(ref[2]);
    [opt, plain].forEach((o) => o.dispose());
    tf.dispose(g.w);
  });
});

describe('emoPulse', () => {
  it('first step by hand: pulse = lr * 1e-4', () => {
    // s = 0, trust = 1: noise = 0.97, d = 0.97 * 0.02 + 0.03 = 0.0494, c = 0,
    // now = ((0.97 - 0.0494 + 0.1) / (1 + 0.1))^2 = 0.8608... < dNR = 1 and trust > 0.5: dNR stays 1;
    // pulse = max(min(1 * (lr * max(100^0, 0.01) * 1e-4), lr * 3e-3), 1e-8) = lr * 1e-4
    for (const lr of [1, 0.5]) {
      const log: Values[] = [];
      const opt = make(log, false, { lr });
      const g = { w: tf.tensor1d([0, 0]) };
      opt.step(g, { loss: 3 });
      expect(log[0]!.stepSize).toBe(lr * 1e-4);
      expect(log[0]!.shouldStop).toBe(0);
      expect((opt.state as V3State)[1]).toEqual({ noise: 0.97 * 1 + 0.03 * 0, d: 0.97 * 0.02 + 0.03 * 1, c: 0, dNR: 1 });
      opt.dispose();
      tf.dispose(g.w);
    }
  });

  it('refuses bad options, naming them', () => {
    expect(() => emoPulse({ lr: 0 })).toThrow(/emoPulse: option 'lr' must be in \(0, inf\)/);
    expect(() => emoPulse({ lr: NaN })).toThrow(/emoPulse: option 'lr' must be a finite number/);
    expect(() => emoPulse({ stopcoef: -1 })).toThrow(/emoPulse: option 'stopcoef' must be in \[0, inf\)/);
    try {
      emoPulse({ stopcoef: Infinity });
    } catch (e) {
      expect((e as EmosensError).code).toBe('INVALID_OPTION');
    }
    expect(emoPulse().init({})).toEqual({ noise: 1, d: 0.02, c: 0, dNR: 1 });
  });

  it('without trackEmotionV3 before it: MISSING_SIGNAL naming emoPulse and the value', () => {
    const w = tf.tensor1d([1]);
    const opt = statefulOptimizer(emoPulse(), { w }, { fused: false });
    expect(() => opt.step({ w }, { loss: 1 })).toThrow(/emoPulse.*emotion|emotion.*emoPulse/);
    opt.dispose();
    w.dispose();
  });
});

describe('trackEmotionV3 + emoPulse: signals, memory, save and restore', () => {
  let unregister: () => void = () => {};
  beforeAll(() => {
    unregister = registerCpuKernels();
  });
  afterAll(() => unregister());

  for (const fused of [false, true]) {
    const pathName = fused ? 'fused' : 'composed';

    it(`publishes the device signals stepSize, emotion and calm, readable with readSignal (${pathName})`, () => {
      const log: Values[] = [];
      const opt = make(log, fused);
      const g = { w: tf.tensor1d([0.1, 0.2]) };
      for (const loss of losses.slice(0, 10)) opt.step(g, { loss });
      expect(opt.path).toBe(pathName);
      const last = log[9]!;
      expect(opt.readSignal('stepSize')).toBe(Math.fround(last.stepSize!));
      expect(opt.readSignal('emotion')).toBe(Math.fround(last.emotion!));
      expect(opt.readSignal('calm')).toBe(last.shouldStop);
      expect(last.emotion).toBeGreaterThan(0); // the loss falls: v3's s is positive
      opt.dispose();
      tf.dispose(g.w);
    });

    it(`holds no tensors beyond the step's signals: tf.memory() is flat across steps (${pathName})`, () => {
      const log: Values[] = [];
      const opt = make(log, fused);
      const g = { w: tf.tensor1d([0.1, 0.2]) };
      opt.step(g, { loss: losses[0]! });
      const before = tf.memory().numTensors;
      for (const loss of losses.slice(1, 20)) {
        const tensorLoss = tf.scalar(loss);
        opt.step(g, { loss: tensorLoss });
        tensorLoss.dispose();
        expect(tf.memory().numTensors).toBe(before);
      }
      opt.dispose();
      tf.dispose(g.w);
    });

    it(`save and restore of the host state (flattenState / unflattenState) resumes exactly (${pathName})`, () => {
      const g = { w: tf.tensor1d([0, 0]) };
      const whole: Values[] = [];
      const straight = make(whole, fused);
      for (const loss of losses) straight.step(g, { loss });

      const first: Values[] = [];
      const a = make(first, fused);
      for (const loss of losses.slice(0, 30)) a.step(g, { loss });
      const saved = new Map(flattenState(a.state).map((leaf) => [leaf.path, leaf.value]));
      expect([...saved.keys()].sort()).toEqual(['0/count', '0/long', '0/medium', '0/short', '1/c', '1/d', '1/dNR', '1/noise']);
      // through JSON, as a checkpoint would store it
      const stored = new Map(Object.entries(JSON.parse(JSON.stringify(Object.fromEntries(saved))) as Record<string, number>));
      const second: Values[] = [];
      const b = make(second, fused);
      b.setState(unflattenState(b.state as StateValue, stored) as never);
      for (const loss of losses.slice(30)) b.step(g, { loss });
      expect([...first, ...second]).toEqual(whole);
      expect(b.state).toEqual(straight.state);
      [straight, a, b].forEach((o) => o.dispose());
      tf.dispose(g.w);
    });
  }
});
