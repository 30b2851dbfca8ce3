import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { EmosensError, chain, type GradientTransformation } from '@emosens/core';
import {
  TransformOptimizer,
  adam,
  adamw,
  createOptimizer,
  emoAiry,
  emoCats,
  emoSens,
  registerTransformFactory,
  type NamedTensor,
} from '../src/index.js';
import { bits, leastSquares, momentumSgd } from './helpers.js';


/** Saves weights to bytes and back, as a file would (tf.io's weight encoding). */
async function throughBytes(weights: NamedTensor[]): Promise<NamedTensor[]> {
  const { data, specs } = await tf.io.encodeWeights(weights);
  const decoded = tf.io.decodeWeights(data, specs);
  return specs.map((s) => ({ name: s.name, tensor: decoded[s.name]! }));
}

/** Rebuilds an optimizer from its config the way tfjs deserialization does. */
function rebuild(opt: TransformOptimizer): TransformOptimizer {
  const [cls, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap['EmosensOptimizer']!;
  return fromConfig(cls, JSON.parse(JSON.stringify(opt.getConfig()))) as TransformOptimizer;
}

const READY = {
  emoSens: () => emoSens({ lr: 2e-2 }),
  'emoSens (shadow)': () => emoSens({ lr: 2e-2, useShadow: true }),
  emoAiry: () => emoAiry({ lr: 2e-2, useShadow: true }),
  emoCats: () => emoCats({ lr: 2e-2, decoupledWeightDecay: true }),
  adam: () => adam({ lr: 2e-2, weightDecay: 0.1 }),
  adamw: () => adamw({ lr: 2e-2, betas: [0.8, 0.99] }),
} as const;

describe.each(Object.entries(READY))('%s save and resume', (_name, make) => {
  it('resumes into fresh variables and a fresh optimizer bit for bit', async () => {
    const k = 7;
    const total = 15;
    // uninterrupted
    const straight = leastSquares();
    const a = make();
    for (let i = 0; i < total; i++) a.minimize(straight.loss);

    // interrupted after k steps: save the parameters and the optimizer's weights
    const first = leastSquares();
    const b = make();
    for (let i = 0; i < k; i++) b.minimize(first.loss);
    const saved = await throughBytes(await b.getWeights());
    const savedParams = { w: tf.clone(first.w), b: tf.clone(first.b) };
    const config = b.getConfig();
    b.dispose();
    first.release();

    // resume: new variables (new names), an optimizer rebuilt from its config
    const resumed = leastSquares(savedParams);
    expect(resumed.w.name).not.toBe(first.w.name);
    const c = rebuild(make());
    expect(c.getConfig()).toEqual(config);
    await c.setWeights(saved);
    tf.dispose(saved.map((s) => s.tensor)); // setWeights kept its own copies
    expect(c.iterations).toBe(k);
    for (let i = k; i < total; i++) c.minimize(resumed.loss);

    expect(bits(resumed.w)).toEqual(bits(straight.w));
    expect(bits(resumed.b)).toEqual(bits(straight.b));
    expect(c.iterations).toBe(total);
    tf.dispose(Object.values(savedParams));
    [a, c].forEach((o) => o.dispose());
    straight.release();
    resumed.release();
  });
});

describe('getWeights / setWeights', () => {
  it('restores by name into the same variables', async () => {
    const straight = leastSquares();
    const a = emoSens({ lr: 2e-2 });
    for (let i = 0; i < 6; i++) a.minimize(straight.loss);

    const p = leastSquares();
    const b = emoSens({ lr: 2e-2 });
    for (let i = 0; i < 3; i++) b.minimize(p.loss);
    const saved = await b.getWeights();
    const c = emoSens({ lr: 2e-2 });
    await c.setWeights(saved);
    b.dispose();
    for (let i = 0; i < 3; i++) c.minimize(p.loss);
    expect(c.parameterNames).toEqual([p.w.name, p.b.name]);
    expect(bits(p.w)).toEqual(bits(straight.w));
    [a, c].forEach((o) => o.dispose());
    straight.release();
    p.release();
  });

  it('lists the iteration count, the skipped counter, the variables and every state leaf', async () => {
    const p = leastSquares();
    const opt = adam();
    opt.minimize(p.loss);
    const weights = await opt.getWeights();
    const names = weights.map((w) => w.name);
    expect(names.slice(0, 5)).toEqual([
      'iter',
      'emosens/format',
      'emosens/skipped',
      `emosens/param/0/${p.w.name}`,
      `emosens/param/1/${p.b.name}`,
    ]);
    // Adam's step count is a float32 scalar tensor (so a skipped step can keep it on the
    // device), saved like the moments; the ready-made optimizers have no number leaves.
    expect(names).toContain('emosens/state/moments/count');
    expect(names.filter((n) => n.startsWith('emosens/number/'))).toEqual([]);
    const count = weights.find((w) => w.name === 'emosens/state/moments/count')!.tensor;
    expect(count.dtype).toBe('float32');
    expect(count.shape).toEqual([]);
    expect(count.dataSync()[0]).toBe(1);
    expect(names).toContain(`emosens/state/moments/mu/${p.w.name}`);
    expect(names).toContain(`emosens/state/moments/nu/${p.b.name}`);
    opt.dispose();
    p.release();
  });

  it('keeps the skipped-step counter and plain numbers that are not integers exactly', async () => {
    // a block whose state is a JavaScript double that no float32 holds exactly
    const drift: GradientTransformation<{ x: number }> = {
      name: 'drift',
      init: () => ({ x: 0.1 }),
      update: (updates, state) => ({ updates, state: { x: state.x * 1.1 + 1 / 3 } }),
    };
    registerTransformFactory('testDrift', () => chain({ drift, sgd: momentumSgd() }));
    const p = leastSquares();
    const opt = createOptimizer('testDrift');
    for (let i = 0; i < 3; i++) opt.minimize(p.loss);
    const g = tf.zerosLike(p.b);
    const nanW = tf.fill(p.w.shape, Number.NaN);
    opt.applyGradients({ [p.w.name]: nanW, [p.b.name]: g }); // skipped
    const x = (opt.state as unknown as { drift: { x: number } }).drift.x;
    expect(Math.fround(x)).not.toBe(x);

    const restored = rebuild(opt);
    await restored.setWeights(await throughBytes(await opt.getWeights()));
    expect(restored.readSkippedSteps()).toBe(1);
    expect(restored.iterations).toBe(4);
    restored.minimize(p.loss);
    opt.minimize(p.loss);
    const y = (restored.state as unknown as { drift: { x: number } }).drift.x;
    expect(y).toBe((opt.state as unknown as { drift: { x: number } }).drift.x);
    tf.dispose([g, nanW]);
    [opt, restored].forEach((o) => o.dispose());
    p.release();
  });

  it('gives back pending weights before the next step, and releases what it exported', async () => {
    const p = leastSquares();
    const a = emoCats();
    a.minimize(p.loss);
    const first = await a.getWeights();
    const b = emoCats();
    await b.setWeights(first);
    const again = await b.getWeights();
    expect(again.map((w) => w.name)).toEqual(first.map((w) => w.name));
    again.forEach((w, i) => expect(Array.from(w.tensor.dataSync())).toEqual(Array.from(first[i]!.tensor.dataSync())));
    // The tensors a getWeights call creates (iter, format, shapes) belong to the optimizer and
    // are released by its next getWeights call, so repeated saves (model.save) leak nothing.
    const count = tf.memory().numTensors;
    await a.getWeights();
    await a.getWeights();
    expect(tf.memory().numTensors).toBe(count);
    expect(first[0]!.tensor.isDisposed).toBe(true);
    a.dispose();
    b.dispose();
    p.release();
  });

  it('releases restored weights that were never used, on setWeights and on dispose', async () => {
    const p = leastSquares();
    const a = emoAiry({ useShadow: true });
    a.minimize(p.loss);
    const saved = await a.getWeights();
    const before = tf.memory().numTensors;
    const b = emoAiry({ useShadow: true });
    await b.setWeights(saved);
    await b.setWeights(saved); // replaces the first pending restore
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
    p.release();
  });

  it('refuses weights of another optimizer or of other variables, naming what differs', async () => {
    const p = leastSquares();
    const a = adam();
    a.minimize(p.loss);
    const adamWeights = await a.getWeights();

    // refused by setWeights itself (the saved shapes give the template), before the next step
    const wrongKind = emoSens();
    await expect(wrongKind.setWeights(adamWeights)).rejects.toThrow(EmosensError);
    await expect(wrongKind.setWeights(adamWeights)).rejects.toThrow(/no value for state leaf|does not have/);

    const other = leastSquares({ w: tf.zeros([2, 2]), b: tf.zeros([2]) });
    const wrongShape = adam();
    await wrongShape.setWeights(adamWeights);
    expect(() => wrongShape.minimize(() => tf.sum(tf.add(tf.sum(other.w), tf.sum(other.b))) as tf.Scalar)).toThrow(
      /shape \[3, 2\].*shape \[2, 2\]/,
    );

    const garbage = adam();
    const t = tf.scalar(1);
    await expect(garbage.setWeights([{ name: 'm', tensor: t }])).rejects.toThrow(/emosens\/format/);
    t.dispose();
    [a, wrongKind, wrongShape, garbage].forEach((o) => o.dispose());
    p.release();
    other.release();
  });
});

describe('getConfig / fromConfig', () => {
  it('round-trips every ready-made optimizer, which then trains identically', () => {
    for (const make of Object.values(READY)) {
      const original = make();
      const copy = rebuild(original);
      expect(copy).toBeInstanceOf(TransformOptimizer);
      expect(copy.getConfig()).toEqual(original.getConfig());
      const p1 = leastSquares();
      const p2 = leastSquares();
      for (let i = 0; i < 4; i++) {
        original.minimize(p1.loss);
        copy.minimize(p2.loss);
      }
      expect(bits(p2.w)).toEqual(bits(p1.w));
      [original, copy].forEach((o) => o.dispose());
      p1.release();
      p2.release();
    }
  });

  it('keeps the adapter options', () => {
    const copy = rebuild(emoSens({ lr: 0.5, onNonFinite: 'skipExact', fused: false }));
    expect(copy.onNonFinite).toBe('skipExact');
    expect(copy.getConfig()).toEqual({ factory: 'emoSens', options: { lr: 0.5 }, onNonFinite: 'skipExact', fused: false });
    copy.dispose();
  });

  it('cannot rebuild a custom transform from a config, and says how to make it possible', () => {
    const custom = new TransformOptimizer(momentumSgd());
    expect(custom.getConfig()).toEqual({ factory: null, options: null, onNonFinite: 'skip', fused: true });
    expect(() => rebuild(custom)).toThrow(/registerTransformFactory/);
    const unknown = { factory: 'notRegistered', options: {}, onNonFinite: 'skip' };
    const [cls, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap['EmosensOptimizer']!;
    expect(() => fromConfig(cls, unknown)).toThrow(/notRegistered.*registered: .*emoSens/);
    custom.dispose();
  });

  it('rebuilds a custom transform registered as a factory', () => {
    registerTransformFactory('testMomentum', (o) => momentumSgd(o['lr'] as number, o['beta'] as number));
    const opt = createOptimizer('testMomentum', { lr: 0.2, beta: 0.3 });
    const copy = rebuild(opt);
    expect(copy.getConfig()).toEqual(opt.getConfig());
    expect(() => registerTransformFactory('snake_case', () => momentumSgd())).toThrow(/'_'/);
    expect(() => createOptimizer('testMomentum', { lr: (() => 1) as never })).toThrow(/plain data/);
    [opt, copy].forEach((o) => o.dispose());
  });
});
