import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statefulOptimizer } from '@emosens/core';
import { registerCpuKernels } from '@emosens/backend-cpu';
import * as transforms from '@emosens/optimizers';
import {
  TransformOptimizer,
  adafactor,
  adagrad,
  adamax,
  lamb,
  lion,
  nadam,
  radam,
  registeredTransformFactories,
  rmsprop,
  sgd,
  type NamedTensor,
} from '../src/index.js';
import { bits, buildModel, countReads, gridTensors, leastSquares } from './helpers.js';

// The torch.optim peers (and Lion), and optax's Adafactor and LAMB, as tf.Optimizers: every
// case below runs through the one `readyMade` mechanism of src/factories.ts, like the Emo
// family and Adam/AdamW.

/** Each case: the factory name, the options (non-default ones exercise every branch), and the optimizer. */
const CASES = {
  sgd: ['sgd', { lr: 0.1 }],
  'sgd (momentum, nesterov, L2)': ['sgd', { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }],
  'sgd (momentum, dampening)': ['sgd', { lr: 0.05, momentum: 0.9, dampening: 0.1 }],
  rmsprop: ['rmsprop', { lr: 1e-2 }],
  'rmsprop (centered, momentum, L2)': ['rmsprop', { lr: 5e-3, centered: true, momentum: 0.5, weightDecay: 1e-3 }],
  adagrad: ['adagrad', { lr: 0.1 }],
  'adagrad (initial accumulator, L2)': ['adagrad', { lr: 0.1, initialAccumulatorValue: 0.1, weightDecay: 1e-3 }],
  adamax: ['adamax', { lr: 2e-2 }],
  nadam: ['nadam', { lr: 2e-2, weightDecay: 1e-3 }],
  radam: ['radam', { lr: 2e-2 }],
  lion: ['lion', { lr: 3e-3, weightDecay: 0.1 }],
  adafactor: ['adafactor', {}],
  'adafactor (factored, lr, momentum)': ['adafactor', { lr: 0.05, minDimSizeToFactor: 2, momentum: 0.9, weightDecayRate: 1e-3 }],
  lamb: ['lamb', { lr: 2e-2, weightDecay: 1e-3 }],
} as const;

const FACTORIES = { sgd, rmsprop, adagrad, adamax, nadam, radam, lion, adafactor, lamb } as const;
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

const FIT = { batchSize: 16, shuffle: false, verbose: 0 } as const;

it('registers every ready-made optimizer for configs under its own name', () => {
  expect(registeredTransformFactories()).toEqual(
    expect.arrayContaining(['emoSens', 'emoAiry', 'emoCats', 'adam', 'adamw', 'sgd', 'rmsprop', 'adagrad', 'adamax', 'nadam', 'radam', 'lion', 'adafactor', 'lamb']),
  );
});

describe.each(Object.entries(CASES))('%s', (_label, [name, options]) => {
  it('trains a dense network with model.fit: the loss falls, every batch is one step', async () => {
    const { x, y } = gridTensors();
    const model = buildModel();
    const optimizer = make(name, options);
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const history = await model.fit(x, y, { ...FIT, epochs: 40 });
    const losses = history.history['loss'] as number[];
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.5);
    expect(optimizer.iterations).toBe(40 * 4);
    expect(optimizer.readSkippedSteps()).toBe(0);
    model.dispose();
    optimizer.dispose();
    tf.dispose([x, y]);
  });

  it('computes exactly what the @emosens/optimizers transform computes through @emosens/core', () => {
    const viaAdapter = leastSquares();
    const viaCore = leastSquares();
    const opt = make(name, options);
    const reference = statefulOptimizer((transforms[name] as (o: object) => ReturnType<typeof transforms.sgd>)(options), {
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
    expect(again.onNonFinite).toBe('throw');
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

  it('resumes from getWeights / setWeights into fresh variables and a fresh optimizer bit for bit', async () => {
    const k = 7;
    const total = 15;
    const straight = leastSquares();
    const a = make(name, options);
    for (let i = 0; i < total; i++) a.minimize(straight.loss);

    const first = leastSquares();
    const b = make(name, options);
    for (let i = 0; i < k; i++) b.minimize(first.loss);
    const saved = await throughBytes(await b.getWeights());
    const savedParams = { w: tf.clone(first.w), b: tf.clone(first.b) };
    b.dispose();
    first.release();

    const resumed = leastSquares(savedParams);
    const c = make(name, options);
    await c.setWeights(saved);
    tf.dispose(saved.map((s) => s.tensor));
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

  it('reads nothing back from the device over 10 minimize steps, and leaks nothing', async () => {
    const { loss, release } = leastSquares();
    const opt = make(name, options);
    opt.minimize(loss); // creates the state
    const count = tf.memory().numTensors;
    const reads = await countReads(() => {
      for (let i = 0; i < 10; i++) opt.minimize(loss);
    });
    expect(reads).toBe(0);
    expect(tf.memory().numTensors).toBe(count);
    opt.dispose();
    release();
  });
});

describe('with tfjs-layers model.save / loadLayersModel', () => {
  it.each(Object.keys(FACTORIES) as Name[])('%s resumes bit for bit after loadLayersModel', async (name) => {
    const options = CASES[name][1];
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
    const { x, y } = gridTensors();
    const model = buildModel();
    const optimizer = make(name, options);
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const history = await model.fit(x, y, { ...FIT, epochs: 20 });
    const losses = history.history['loss'] as number[];
    expect(optimizer.path).toBe('fused');
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    model.dispose();
    optimizer.dispose();
    tf.dispose([x, y]);
  });
});

it('validates the optimizers options by name, through the transform', () => {
  expect(() => sgd({ lr: 0.1, nesterov: true })).toThrow(/nesterov/);
  expect(() => rmsprop({ alpha: 2 })).toThrow(/alpha/);
  expect(() => lion({ betas: [0.9, 1.5] })).toThrow(/betas/);
  // @ts-expect-error: an option lion does not have
  expect(() => lion({ eps: 1e-8 })).toThrow(/unknown option 'eps'/);
});
