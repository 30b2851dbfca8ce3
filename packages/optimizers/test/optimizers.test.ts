import * as tf from '@tensorflow/tfjs-core';
import { EmosensError, flattenState, statefulOptimizer } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { adam, adamw, emoAiry, emoCats, emoSens } from '../src/index.js';

const ALL = {
  emoSens,
  emoAiry,
  emoCats,
  adam,
  adamw,
  'emoSens+shadow': (o: object) => emoSens({ ...o, useShadow: true }),
  'emoAiry+shadow': (o: object) => emoAiry({ ...o, useShadow: true }),
  'emoCats+shadow': (o: object) => emoCats({ ...o, useShadow: true }),
} as const;
const EMO = { emoSens, emoAiry, emoCats } as const;

const params = () => ({ w: tf.randomNormal([4, 3], 0, 1, 'float32', 7), b: tf.randomNormal([3], 0, 1, 'float32', 8) });

describe('defaults are the reference defaults', () => {
  it.each([
    ['emoSens', emoSens(), { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0.01, useShadow: false }],
    ['emoAiry', emoAiry(), { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0.01, useShadow: false }],
    ['emoCats', emoCats(), { lr: 1e-3, b1: 0.9, b2: 0.99, eps: 1e-8, weightDecay: 0.01, useShadow: false }],
    ['adamw', adamw(), { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0.01, useShadow: false }],
    ['adam', adam(), { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0, useShadow: false }],
  ])('%s', (_name, tx, expected) => {
    expect(tx.fused?.options).toEqual(expected);
  });

  it('shadow is off unless asked for; EmoCats divides the decay by lr only when decoupled', () => {
    const p = params();
    expect(flattenState(emoSens().init(p)).some((l) => l.path.includes('shadow'))).toBe(false);
    expect(flattenState(emoSens({ useShadow: true }).init(p)).some((l) => l.path.includes('shadow'))).toBe(true);
    expect(emoCats({ lr: 0.01, weightDecay: 0.02 }).fused?.options.weightDecay).toBe(0.02);
    expect(emoCats({ lr: 0.01, weightDecay: 0.02, decoupledWeightDecay: true }).fused?.options.weightDecay).toBeCloseTo(2, 12);
  });
});

describe('options are validated, naming the optimizer and option', () => {
  it.each([
    [() => emoSens({ lr: -1 }), /emoSens: option 'lr'/],
    [() => emoAiry({ betas: [0.9, 1] }), /emoAiry: option 'betas\[1\]' must be in \[0, 1\)/],
    [() => emoCats({ decoupledWeightDecay: 'yes' as never }), /emoCats: option 'decoupledWeightDecay' must be true or false/],
    [() => adamw({ weightDecay: Number.NaN }), /adamw: option 'weightDecay' must be a finite number/],
    [() => emoSens({ learningRate: 0.1 } as never), /emoSens: unknown option 'learningRate'/],
  ])('%#', (make, message) => {
    expect(make).toThrowError(EmosensError);
    expect(make).toThrowError(message);
  });
});

describe('every optimizer', () => {
  for (const [name, make] of Object.entries(ALL)) {
    it(`${name}: no tensor leaks over 100 steps, no readback with a tensor loss, and it descends`, () => {
      const opt = statefulOptimizer(make({ lr: 0.01 }), params());
      const lossOf = () => tf.add(tf.sum(tf.square(opt.params.w!)), tf.sum(tf.square(opt.params.b!))) as tf.Scalar;
      const initial = tf.tidy(() => lossOf().arraySync() as number);
      const backend = tf.backend();
      let reads = 0;
      const readSync = backend.readSync.bind(backend);
      const read = backend.read.bind(backend);
      backend.readSync = (id) => { reads += 1; return readSync(id); };
      backend.read = (id) => { reads += 1; return read(id); };
      const stepOnce = () => {
        const { value, grads } = tf.variableGrads(lossOf, [opt.params.w!, opt.params.b!]);
        opt.step({ w: grads[opt.params.w!.name]!, b: grads[opt.params.b!.name]! }, { loss: value });
        tf.dispose([value, ...Object.values(grads)]);
      };
      let afterFirst = 0;
      try {
        stepOnce();
        afterFirst = tf.memory().numTensors;
        for (let i = 1; i < 100; i++) stepOnce();
        expect(reads).toBe(0);
      } finally {
        backend.readSync = readSync;
        backend.read = read;
      }
      expect(tf.memory().numTensors).toBe(afterFirst);
      expect(tf.tidy(() => lossOf().arraySync() as number)).toBeLessThan(initial);
      opt.dispose();
    });
  }

  for (const [name, make] of Object.entries(EMO)) {
    it(`${name}: needs the loss (never a silent 0), and exposes the emotion scalar and calm flag`, () => {
      const opt = statefulOptimizer(make(), params());
      const grads = { w: tf.onesLike(opt.params.w!), b: tf.onesLike(opt.params.b!) };
      const before = Array.from(opt.params.w!.dataSync());
      expect(() => opt.step(grads)).toThrowError(/needs this step's loss/);
      expect(Array.from(opt.params.w!.dataSync())).toEqual(before);
      opt.step(grads, { loss: 2 });
      opt.step(grads, { loss: 1 });
      // short = 0.3 + 0.7 * 2 = 1.7, long = 0.01 + 0.99 * 2 = 1.99: s = tanh(5 * -0.29)
      expect(opt.readSignal('emotion')).toBeCloseTo(Math.tanh(-1.45), 5);
      expect(opt.readSignal('calm')).toBe(0);
      opt.dispose();
    });
  }
});
