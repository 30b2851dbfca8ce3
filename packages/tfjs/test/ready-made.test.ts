import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { EmosensError, statefulOptimizer } from '@emosens/core';
import * as transforms from '@emosens/optimizers';
import { TransformOptimizer, adam, adamw, emoAiry, emoCats, emoSens } from '../src/index.js';
import { bits, countReads, leastSquares } from './helpers.js';


const READY = {
  emoSens: () => emoSens({ lr: 1e-2 }),
  'emoSens (shadow)': () => emoSens({ lr: 1e-2, useShadow: true }),
  emoAiry: () => emoAiry({ lr: 1e-2 }),
  'emoAiry (shadow)': () => emoAiry({ lr: 1e-2, useShadow: true }),
  emoCats: () => emoCats({ lr: 1e-2 }),
  'emoCats (shadow)': () => emoCats({ lr: 1e-2, useShadow: true }),
  'emoCats (decoupled decay)': () => emoCats({ lr: 1e-2, decoupledWeightDecay: true }),
  adam: () => adam({ lr: 1e-2 }),
  adamw: () => adamw({ lr: 1e-2 }),
} as const;

describe.each(Object.entries(READY))('%s', (_name, make) => {
  it('reads nothing back from the device over 10 minimize steps, and leaks nothing', async () => {
    const { loss, release } = leastSquares();
    const opt = make();
    opt.minimize(loss); // creates the state
    const count = tf.memory().numTensors;
    // The shadow variants included: withShadow selects with arithmetic, so no cpu `Tile`
    // (which reads its input back) runs.
    const reads = await countReads(() => {
      for (let i = 0; i < 10; i++) opt.minimize(loss);
    });
    expect(reads).toBe(0);
    expect(tf.memory().numTensors).toBe(count);
    opt.dispose();
    release();
  });

  it('lowers the loss', () => {
    const { loss, release } = leastSquares();
    const opt = make();
    const first = tf.tidy(() => loss().dataSync()[0]!);
    for (let i = 0; i < 100; i++) opt.minimize(loss);
    // the shadow blends back toward older weights, so shadow runs descend more slowly
    expect(tf.tidy(() => loss().dataSync()[0]!)).toBeLessThan(first * 0.9);
    opt.dispose();
    release();
  });
});

describe('the ready-made optimizers', () => {
  it('compute exactly what the @emosens/optimizers transform computes through @emosens/core', () => {
    for (const name of ['emoSens', 'emoAiry', 'emoCats', 'adam', 'adamw'] as const) {
      const viaAdapter = leastSquares();
      const viaCore = leastSquares();
      const opt = { emoSens, emoAiry, emoCats, adam, adamw }[name]({ lr: 1e-2 });
      const reference = statefulOptimizer(transforms[name]({ lr: 1e-2 }), { w: viaCore.w, b: viaCore.b });
      for (let i = 0; i < 5; i++) {
        opt.minimize(viaAdapter.loss);
        const { value, grads } = tf.variableGrads(viaCore.loss, [viaCore.w, viaCore.b]);
        reference.step({ w: grads[viaCore.w.name]!, b: grads[viaCore.b.name]! }, { loss: value });
        tf.dispose([value, ...Object.values(grads)]);
      }
      expect(bits(viaAdapter.w), name).toEqual(bits(viaCore.w));
      expect(bits(viaAdapter.b), name).toEqual(bits(viaCore.b));
      opt.dispose();
      reference.dispose();
      viaAdapter.release();
      viaCore.release();
    }
  });

  it('expose the emotion and calm signals of the last step', () => {
    const { loss, release } = leastSquares();
    const opt = emoSens({ lr: 1e-2 });
    expect(opt.readSignal('emotion')).toBeUndefined();
    for (let i = 0; i < 3; i++) opt.minimize(loss);
    const emotion = opt.signals.emotion;
    expect(emotion?.dtype).toBe('float32');
    expect(opt.signals.calm?.dtype).toBe('bool');
    const s = opt.readSignal('emotion')!;
    expect(Math.abs(s)).toBeLessThan(1);
    expect(s).not.toBe(0); // the loss moved, so short and long averages differ
    expect(opt.readSignal('calm')).toBe(0); // the calm window (32 steps) is not full yet
    opt.dispose();
    release();
  });

  it('read a signal asynchronously with readSignalAsync (data(), no synchronous read)', async () => {
    const { loss, release } = leastSquares();
    const opt = emoSens({ lr: 1e-2 });
    expect(await opt.readSignalAsync('emotion')).toBeUndefined();
    for (let i = 0; i < 3; i++) opt.minimize(loss);
    const expected = opt.readSignal('emotion')!;
    const count = tf.memory().numTensors;
    const engine = tf.engine();
    const readSync = vi.spyOn(engine, 'readSync');
    const read = vi.spyOn(engine, 'read');
    let emotion: number | undefined;
    let calm: number | undefined;
    try {
      const pending = opt.readSignalAsync('emotion');
      opt.minimize(loss); // releases the signal being read: the read holds its own reference
      emotion = await pending;
      calm = await opt.readSignalAsync('calm');
      expect(readSync).not.toHaveBeenCalled();
      expect(read).toHaveBeenCalledTimes(2);
    } finally {
      readSync.mockRestore();
      read.mockRestore();
    }
    expect(emotion).toBe(expected); // the value published when it was called
    expect(calm).toBe(0); // bool signal as 1 / 0; the calm window (32 steps) is not full yet
    expect(await opt.readSignalAsync('emotion')).toBe(opt.readSignal('emotion'));
    expect(opt.readSignal('emotion')).not.toBe(expected);
    expect(tf.memory().numTensors).toBe(count);
    opt.dispose();
    release();
  });

  it('throw MISSING_LOSS for the Emo optimizers when applyGradients gets no loss, never use 0', () => {
    const { w, b, loss, release } = leastSquares();
    const before = bits(w);
    const { value, grads } = tf.variableGrads(loss, [w, b]);
    for (const opt of [emoSens(), emoAiry(), emoCats()]) {
      let error: unknown;
      try {
        opt.applyGradients(grads);
      } catch (e) {
        error = e;
      }
      expect((error as EmosensError).code).toBe('MISSING_LOSS');
      expect(bits(w)).toEqual(before);
      opt.dispose();
    }
    const plain = adam();
    plain.applyGradients(grads); // Adam needs no loss
    expect(bits(w)).not.toEqual(before);
    plain.dispose();
    tf.dispose([value, ...Object.values(grads)]);
    release();
  });

  it('pass adapter options through and validate optimizer options by name', () => {
    const opt = emoCats({ lr: 0.01, onNonFinite: 'throw' });
    expect(opt).toBeInstanceOf(TransformOptimizer);
    expect(opt.onNonFinite).toBe('throw');
    expect(opt.getConfig()).toEqual({ factory: 'emoCats', options: { lr: 0.01 }, onNonFinite: 'throw', fused: true });
    expect(() => emoSens({ lr: -1 })).toThrow(/lr/);
    expect(() => adam({ betas: [0.9, 1.5] })).toThrow(/betas/);
    opt.dispose();
  });
});
