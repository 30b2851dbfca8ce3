import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { flattenState, statefulOptimizer } from '@emosens/core';
import { registerCpuKernels } from '@emosens/backend-cpu';
import * as transforms from '@emosens/optimizers';
import type { EmoTionOptions, EmoV3Options, EmoVoidOptions } from '@emosens/optimizers';
import {
  TransformOptimizer,
  emoAiryV3,
  emoCatsV3,
  emoSensV3,
  emoTion,
  emoVoid,
  registeredTransformFactories,
  type AdapterOptions,
  type ConfigOptions,
  type NamedTensor,
} from '../src/index.js';
import { bits, buildModel, countReads, gridSamples, gridTensors, leastSquares, stateBits } from './helpers.js';

// The Emo family's v3.9.1 generation as tf.Optimizers: every case runs through the one
// `readyMade` mechanism of src/factories.ts, like the other ready-made optimizers. What is
// new here is their state: host numbers computed in float64 (trackEmotionV3's loss
// averages and count, emoPulse's noise, d, c and dNR) beside the device tensors, and a
// loss that is read back once per step.

/** Each case: the factory name and its options (the defaults, lr 1.0 included; one shadow run). */
const CASES = {
  emoSensV3: ['emoSensV3', {}],
  'emoSensV3 (shadow)': ['emoSensV3', { useShadow: true }],
  emoAiryV3: ['emoAiryV3', {}],
  emoCatsV3: ['emoCatsV3', {}],
  emoTion: ['emoTion', {}],
  emoVoid: ['emoVoid', {}],
} as const;

const FACTORIES = { emoSensV3, emoAiryV3, emoCatsV3, emoTion, emoVoid } as const;
type Name = keyof typeof FACTORIES;

function make(name: Name, options: object): TransformOptimizer {
  return (FACTORIES[name] as (o: object) => TransformOptimizer)(options);
}

/** Saves weights to bytes and back, as a file would (tf.io's weight encoding). */
async function throughBytes(weights: NamedTensor[]): Promise<NamedTensor[]> {
  const { data, specs } = await tf.io.encodeWeights(weights);
  const decoded = tf.io.decodeWeights(data, specs);
  return specs.map((s) => ({ name: s.name, tensor: decoded[s.name]! }));
}

/** Rebuilds an optimizer from its config the way tfjs deserialization does (through JSON). */
function rebuild(opt: TransformOptimizer): TransformOptimizer {
  const [cls, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap['EmosensOptimizer']!;
  return fromConfig(cls, JSON.parse(JSON.stringify(opt.getConfig()))) as TransformOptimizer;
}

/** The number leaves of a state, by path, with the variable names renamed. */
function numberLeaves(state: unknown, rename: Readonly<Record<string, string>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { path, value } of flattenState(state)) {
    if (typeof value !== 'number') continue;
    out[path.split('/').map((s) => rename[s] ?? s).join('/')] = value;
  }
  return out;
}

/** The `emosens/number/<path>` weights read back as doubles (int32 [] or the two 32-bit words of a float64). */
function savedNumbers(weights: readonly NamedTensor[], rename: Readonly<Record<string, string>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { name, tensor } of weights) {
    if (!name.startsWith('emosens/number/')) continue;
    const words = Array.from(tensor.dataSync());
    let value: number;
    if (tensor.size === 2) {
      const view = new DataView(new ArrayBuffer(8));
      view.setInt32(0, words[0]!, true);
      view.setInt32(4, words[1]!, true);
      value = view.getFloat64(0, true);
    } else {
      value = words[0]!;
    }
    out[name.slice('emosens/number/'.length).split('/').map((s) => rename[s] ?? s).join('/')] = value;
  }
  return out;
}

/**
 * The problem model.fit trains on: linear regression, y = 0.06 x0 - 0.04 x1 + 0.02 on the
 * 8 x 8 grid, from a zero kernel. v3's step size comes from the loss history, not from
 * `lr` (lr 1.0 only scales it and caps it at 3e-3 per step), so the weights must move by a
 * few hundred such steps: here ~0.06, which 60 epochs of 4 batches cover.
 */
function linearProblem() {
  const { xs } = gridSamples();
  const x = tf.tensor2d(xs, [64, 2]);
  const y = tf.tidy(() => tf.add(tf.matMul(x, tf.tensor2d([[0.06], [-0.04]])), 0.02)) as tf.Tensor2D;
  const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [2], units: 1, kernelInitializer: 'zeros' })] });
  return { x, y, model };
}

const FIT = { batchSize: 16, shuffle: false, verbose: 0 } as const;

it('registers the v3 optimizers for configs under their own names', () => {
  expect(registeredTransformFactories()).toEqual(expect.arrayContaining(['emoSensV3', 'emoAiryV3', 'emoCatsV3', 'emoTion', 'emoVoid']));
});

describe.each(Object.entries(CASES))('%s', (_label, [name, options]) => {
  it('trains a linear regression with model.fit at the default lr 1.0: the loss falls 10x, every batch is one step', async () => {
    const { x, y, model } = linearProblem();
    const optimizer = make(name, options);
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const history = await model.fit(x, y, { ...FIT, epochs: 60 });
    const losses = history.history['loss'] as number[];
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.1);
    expect(optimizer.iterations).toBe(60 * 4);
    expect(optimizer.readSkippedSteps()).toBe(0);
    // the v3 signals
    expect(Object.keys(optimizer.signals).sort()).toEqual(['calm', 'emotion', 'stepSize']);
    const stepSize = optimizer.readSignal('stepSize')!;
    expect(stepSize).toBeGreaterThan(0);
    expect(stepSize).toBeLessThanOrEqual(Math.fround(3e-3));
    model.dispose();
    optimizer.dispose();
    tf.dispose([x, y]);
  });

  it('computes exactly what the @emosens/optimizers transform computes through @emosens/core', () => {
    const viaAdapter = leastSquares();
    const viaCore = leastSquares();
    const opt = make(name, options);
    const reference = statefulOptimizer((transforms[name] as (o: object) => ReturnType<typeof transforms.emoSensV3>)(options), {
      w: viaCore.w,
      b: viaCore.b,
    });
    for (let i = 0; i < 8; i++) {
      opt.minimize(viaAdapter.loss);
      const { value, grads } = tf.variableGrads(viaCore.loss, [viaCore.w, viaCore.b]);
      reference.step({ w: grads[viaCore.w.name]!, b: grads[viaCore.b.name]! }, { loss: value });
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(bits(viaAdapter.w)).toEqual(bits(viaCore.w));
    expect(bits(viaAdapter.b)).toEqual(bits(viaCore.b));
    // the whole state, host numbers (float64) included
    expect(stateBits(opt.state, { [viaAdapter.w.name]: 'w', [viaAdapter.b.name]: 'b' })).toEqual(stateBits(reference.state));
    opt.dispose();
    reference.dispose();
    viaAdapter.release();
    viaCore.release();
  });

  it('getConfig -> fromConfig gives the same options, and the rebuilt optimizer steps identically', () => {
    const opt = make(name, { ...options, onNonFinite: 'throw' });
    const config = opt.getConfig();
    expect(config).toEqual({ factory: name, options, onNonFinite: 'throw', fused: true });
    const again = rebuild(opt);
    expect(again).toBeInstanceOf(TransformOptimizer);
    expect(again.getConfig()).toEqual(config);
    const a = leastSquares();
    const b = leastSquares();
    for (let i = 0; i < 5; i++) {
      opt.minimize(a.loss);
      again.minimize(b.loss);
    }
    expect(bits(b.w)).toEqual(bits(a.w));
    expect(bits(b.b)).toEqual(bits(a.b));
    [opt, again].forEach((o) => o.dispose());
    a.release();
    b.release();
  });

  it('resumes from getWeights / setWeights bit for bit, its float64 host numbers restored exactly', async () => {
    const k = 7;
    const total = 15;
    const straight = leastSquares();
    const a = make(name, options);
    for (let i = 0; i < total; i++) a.minimize(straight.loss);

    const first = leastSquares();
    const b = make(name, options);
    for (let i = 0; i < k; i++) b.minimize(first.loss);
    const original = numberLeaves(b.state, { [first.w.name]: 'w', [first.b.name]: 'b' });
    // trackEmotionV3's averages and count, emoPulse's noise, d, c and dNR
    expect(Object.keys(original)).toEqual(
      expect.arrayContaining(['emotion/count', 'emotion/short', 'emotion/medium', 'emotion/long', 'pulse/noise', 'pulse/d', 'pulse/c', 'pulse/dNR']),
    );
    // doubles that no float32 holds: a float32 round trip would change them
    expect(Object.values(original).filter((v) => Math.fround(v) !== v).length).toBeGreaterThanOrEqual(6);
    const saved = await throughBytes(await b.getWeights());
    const savedParams = { w: tf.clone(first.w), b: tf.clone(first.b) };
    b.dispose();
    first.release();

    const resumed = leastSquares(savedParams);
    const c = make(name, options);
    await c.setWeights(saved);
    tf.dispose(saved.map((s) => s.tensor));
    expect(c.iterations).toBe(k);
    // what c holds (pending until its next step) gives back the originals exactly (Object.is per number)
    const restored = savedNumbers(await c.getWeights(), { [first.w.name]: 'w', [first.b.name]: 'b' });
    expect(Object.keys(restored).sort()).toEqual(Object.keys(original).sort());
    for (const [path, value] of Object.entries(original)) expect(Object.is(restored[path], value), path).toBe(true);

    for (let i = k; i < total; i++) c.minimize(resumed.loss);
    expect(bits(resumed.w)).toEqual(bits(straight.w));
    expect(bits(resumed.b)).toEqual(bits(straight.b));
    expect(stateBits(c.state, { [resumed.w.name]: 'w', [resumed.b.name]: 'b' })).toEqual(
      stateBits(a.state, { [straight.w.name]: 'w', [straight.b.name]: 'b' }),
    );
    expect(c.iterations).toBe(total);
    tf.dispose(Object.values(savedParams));
    [a, c].forEach((o) => o.dispose());
    straight.release();
    resumed.release();
  });

  it('reads the loss tensor back once per minimize step (nothing else), and leaks nothing', async () => {
    const { loss, release } = leastSquares();
    const opt = make(name, options);
    opt.minimize(loss); // creates the state
    const count = tf.memory().numTensors;
    const stacks: string[] = [];
    const reads = await countReads(() => {
      for (let i = 0; i < 10; i++) opt.minimize(loss);
    }, stacks);
    expect(reads).toBe(10);
    // each read is the step context's lossValue (trackEmotionV3 asks for the loss as a number)
    for (const stack of stacks) expect(stack).toMatch(/lossValue/);
    expect(tf.memory().numTensors).toBe(count);
    opt.dispose();
    release();
  });

  it('reads nothing back when the loss is given as a number (setLoss + applyGradients)', async () => {
    const p = leastSquares();
    const opt = make(name, options);
    const stepWithNumber = () => {
      const { value, grads } = tf.variableGrads(p.loss, [p.w, p.b]);
      const lossNumber = value.dataSync()[0]!; // the caller's read, outside the counted step
      opt.setLoss(lossNumber);
      return { value, grads };
    };
    const prepared = stepWithNumber();
    opt.applyGradients(prepared.grads);
    tf.dispose([prepared.value, ...Object.values(prepared.grads)]);
    const next = stepWithNumber();
    expect(await countReads(() => opt.applyGradients(next.grads))).toBe(0);
    tf.dispose([next.value, ...Object.values(next.grads)]);
    opt.dispose();
    p.release();
  });
});

describe('non-finite steps (the host numbers are JavaScript doubles)', () => {
  /** A step with a NaN gradient for `w` and a finite loss. */
  const nanGradientStep = (opt: TransformOptimizer, p: ReturnType<typeof leastSquares>) => {
    const g = tf.zerosLike(p.b);
    const nanW = tf.fill(p.w.shape, Number.NaN);
    opt.setLoss(0.5);
    opt.applyGradients({ [p.w.name]: nanW, [p.b.name]: g });
    tf.dispose([g, nanW]);
  };
  const view = (p: ReturnType<typeof leastSquares>, opt: TransformOptimizer) => ({
    w: bits(p.w),
    b: bits(p.b),
    state: stateBits(opt.state, { [p.w.name]: 'w', [p.b.name]: 'b' }),
  });

  it.each(Object.keys(FACTORIES) as Name[])("%s: 'skip' leaves everything exactly on an infinite loss (trackEmotionV3 keeps its averages)", (name) => {
    const p = leastSquares();
    const opt = make(name, {});
    for (let i = 0; i < 3; i++) opt.minimize(p.loss);
    const before = view(p, opt);
    opt.minimize(p.infiniteLoss);
    expect(opt.readSkippedSteps()).toBe(1);
    expect(view(p, opt)).toEqual(before);
    opt.dispose();
    p.release();
  });

  it.each(Object.keys(FACTORIES) as Name[])("%s: on a NaN gradient with a finite loss, 'skipExact' leaves everything; composed 'skip' moves only the host numbers (the documented limit)", async (name) => {
    const a = leastSquares();
    const b = leastSquares();
    const exact = make(name, { onNonFinite: 'skipExact' });
    const skip = make(name, { fused: false });
    for (let i = 0; i < 3; i++) {
      exact.minimize(a.loss);
      skip.minimize(b.loss);
    }
    const beforeExact = view(a, exact);
    const beforeSkip = view(b, skip);
    // skipExact: one boolean readback; the transform does not run, so the loss is not read
    expect(await countReads(() => nanGradientStep(exact, a))).toBe(1);
    expect(view(a, exact)).toEqual(beforeExact);
    nanGradientStep(skip, b);
    expect(skip.readSkippedSteps()).toBe(1);
    const after = view(b, skip);
    expect({ w: after.w, b: after.b }).toEqual({ w: beforeSkip.w, b: beforeSkip.b });
    const tensorsOnly = (s: Record<string, unknown>) => Object.fromEntries(Object.entries(s).filter(([, v]) => typeof v !== 'number'));
    expect(tensorsOnly(after.state)).toEqual(tensorsOnly(beforeSkip.state));
    expect(after.state['emotion/count']).toBe((beforeSkip.state['emotion/count'] as number) + 1);
    [exact, skip].forEach((o) => o.dispose());
    a.release();
    b.release();
  });
});

describe('with tfjs-layers model.save / loadLayersModel', () => {
  it.each(Object.entries(CASES))('%s resumes bit for bit after loadLayersModel', async (_label, [name, options]) => {
    const { x, y } = gridTensors();
    const straight = buildModel();
    const initial = straight.getWeights().map((w) => tf.clone(w));
    straight.compile({ optimizer: make(name, options), loss: 'meanSquaredError' });
    await straight.fit(x, y, { ...FIT, epochs: 4 });

    const first = buildModel();
    first.setWeights(initial);
    first.compile({ optimizer: make(name, options), loss: 'meanSquaredError' });
    await first.fit(x, y, { ...FIT, epochs: 2 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await first.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
      { includeOptimizer: true },
    );
    expect(artifacts?.trainingConfig?.optimizer_config).toEqual({
      class_name: 'EmosensOptimizer',
      config: { factory: name, options, onNonFinite: 'skip', fused: true },
    });
    const resumed = (await tfl.loadLayersModel(tf.io.fromMemory(artifacts!))) as tfl.LayersModel;
    expect(resumed.optimizer).toBeInstanceOf(TransformOptimizer);
    await resumed.fit(x, y, { ...FIT, epochs: 2 });
    const expected = straight.getWeights();
    resumed.getWeights().forEach((w, i) => expect(new Float32Array(w.dataSync())).toEqual(new Float32Array(expected[i]!.dataSync())));
    // the host numbers went through the saved weights' bytes and came back exactly
    const renamed = (m: tfl.LayersModel) => {
      const names = (m.optimizer as unknown as TransformOptimizer).parameterNames;
      return Object.fromEntries(names.map((n, i) => [n, `p${i}`]));
    };
    const straightOpt = straight.optimizer as unknown as TransformOptimizer;
    const resumedOpt = resumed.optimizer as unknown as TransformOptimizer;
    expect(numberLeaves(resumedOpt.state, renamed(resumed))).toEqual(numberLeaves(straightOpt.state, renamed(straight)));
    [straight, first, resumed].forEach((m) => {
      (m.optimizer as unknown as TransformOptimizer).dispose();
      m.dispose();
    });
    tf.dispose([x, y, ...initial]);
  });
});

describe('with registerCpuKernels()', () => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerCpuKernels();
  });
  afterAll(() => unregister());

  it.each(Object.entries(CASES))('%s runs every model.fit step fused, and the loss falls', async (_label, [name, options]) => {
    const { x, y, model } = linearProblem();
    const optimizer = make(name, options);
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const history = await model.fit(x, y, { ...FIT, epochs: 60 });
    const losses = history.history['loss'] as number[];
    expect(optimizer.path).toBe('fused');
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.1);
    model.dispose();
    optimizer.dispose();
    tf.dispose([x, y]);
  });

  it.each(Object.entries(CASES))('%s fused agrees with composed, reading the loss once per step, leaking nothing', async (_label, [name, options]) => {
    const fusedRun = leastSquares();
    const composedRun = leastSquares();
    const fused = make(name, options);
    const composed = make(name, { ...options, fused: false });
    fused.minimize(fusedRun.loss);
    composed.minimize(composedRun.loss);
    const count = tf.memory().numTensors;
    const reads = await countReads(() => {
      for (let i = 0; i < 10; i++) fused.minimize(fusedRun.loss);
    });
    for (let i = 0; i < 10; i++) composed.minimize(composedRun.loss);
    expect(fused.path).toBe('fused');
    expect(composed.path).toBe('composed');
    expect(reads).toBe(10);
    expect(tf.memory().numTensors).toBe(count);
    const close = (a: tf.Tensor, b: tf.Tensor) =>
      Array.from(a.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(b.dataSync()[i]!, 5));
    close(fusedRun.w, composedRun.w);
    close(fusedRun.b, composedRun.b);
    const hostFused = numberLeaves(fused.state, { [fusedRun.w.name]: 'w', [fusedRun.b.name]: 'b' });
    const hostComposed = numberLeaves(composed.state, { [composedRun.w.name]: 'w', [composedRun.b.name]: 'b' });
    expect(Object.keys(hostFused).sort()).toEqual(Object.keys(hostComposed).sort());
    for (const [path, v] of Object.entries(hostFused)) expect(v, path).toBeCloseTo(hostComposed[path]!, 5);
    [fused, composed].forEach((o) => o.dispose());
    fusedRun.release();
    composedRun.release();
  });
});

it('types: each takes the options of its transform plus the adapter options, and stepSize is a typed signal', () => {
  expectTypeOf(emoSensV3).parameter(0).toEqualTypeOf<(ConfigOptions<EmoV3Options> & AdapterOptions) | undefined>();
  expectTypeOf(emoAiryV3).parameter(0).toEqualTypeOf<(ConfigOptions<EmoV3Options> & AdapterOptions) | undefined>();
  expectTypeOf(emoCatsV3).parameter(0).toEqualTypeOf<(ConfigOptions<EmoV3Options> & AdapterOptions) | undefined>();
  expectTypeOf(emoTion).parameter(0).toEqualTypeOf<(ConfigOptions<EmoTionOptions> & AdapterOptions) | undefined>();
  expectTypeOf(emoVoid).parameter(0).toEqualTypeOf<(ConfigOptions<EmoVoidOptions> & AdapterOptions) | undefined>();
  expectTypeOf(emoSensV3).returns.toEqualTypeOf<TransformOptimizer>();
  expectTypeOf<TransformOptimizer['signals']['stepSize']>().toEqualTypeOf<tf.Scalar | undefined>();
  expectTypeOf<'emotion' | 'stepSize' | 'calm'>().toMatchTypeOf<Parameters<TransformOptimizer['readSignal']>[0]>();
});

it('validates the options by name, through the transform', () => {
  expect(() => emoSensV3({ betas: [0.9, 1.5] })).toThrow(/betas/);
  expect(() => emoCatsV3({ lr: 0 })).toThrow(/lr/);
  // @ts-expect-error: an option emoTion does not have
  expect(() => emoTion({ weightDecay: 0.1 })).toThrow(/unknown option 'weightDecay'/);
  // @ts-expect-error: an option emoVoid does not have
  expect(() => emoVoid({ betas: [0.9, 0.99] })).toThrow(/unknown option 'betas'/);
});

it('the docs say that the v3 optimizers read a tensor loss back once per step', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## The v3.9.1 optimizers'));
  expect(section.length).toBeLessThan(readme.length);
  for (const name of Object.keys(FACTORIES)) expect(section).toContain(`\`${name}`);
  expect(section).toMatch(/read back once per step/);
  const factories = readFileSync(new URL('../src/factories.ts', import.meta.url), 'utf8');
  for (const name of Object.keys(FACTORIES)) {
    const doc = factories.slice(0, factories.indexOf(`export const ${name} =`));
    expect(doc.slice(doc.lastIndexOf('/**'))).toMatch(/once per step/);
  }
});
