import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { EmosensError, chain, type GradientTransformation, type StateValue } from '@emosens/core';
import { emoPulse, trackEmotion, trackEmotionV3 } from '@emosens/emotion';
import { registerCpuKernels } from '@emosens/backend-cpu';
import { TransformOptimizer, adam, emoSens } from '../src/index.js';
import {
  EmotionLogs,
  StopOnCalm,
  emotionLogs,
  stopOnCalm,
  type CalmStop,
  type EmotionLogsOptions,
  type StopOnCalmOptions,
} from '../src/callbacks/index.js';
import { countReads } from './helpers.js';

/**
 * A problem on which EmoSens turns calm, deterministically: 32 samples of an exactly
 * linear target, a 2-1 dense model with seeded weights, batches of 8 (4 steps per epoch,
 * no shuffling). The loss falls from 0.12 to ~1e-9; the short and long loss averages
 * meet, the emotion scalar settles near 0, and `calm` first turns on around step 270.
 */
function calmProblem() {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < 32; i++) {
    const a = -1 + (2 * i) / 31;
    const b = Math.sin(3 * i);
    xs.push(a, b);
    ys.push(0.3 * (0.5 * a - 0.25 * b + 0.1));
  }
  const x = tf.tensor2d(xs, [32, 2]);
  const y = tf.tensor2d(ys, [32, 1]);
  const model = tfl.sequential({
    layers: [tfl.layers.dense({ inputShape: [2], units: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) })],
  });
  const release = () => {
    model.dispose();
    tf.dispose([x, y]);
  };
  return { x, y, model, release };
}

const FIT = { batchSize: 8, shuffle: false, verbose: 0 } as const;
const STEPS_PER_EPOCH = 4;

/** The calm signal after every step of a 100-epoch fit with emoSens({ lr: 1e-2 }), read by a plain callback. */
async function calmTrace(): Promise<number[]> {
  const { x, y, model, release } = calmProblem();
  const optimizer = emoSens({ lr: 1e-2 });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  const trace: number[] = [];
  await model.fit(x, y, { ...FIT, epochs: 100, callbacks: { onBatchEnd: async () => void trace.push(optimizer.readSignal('calm')!) } });
  optimizer.dispose();
  release();
  return trace;
}

/** The 1-based step at which `calm` has been on for `patience` consecutive steps. */
function stepOfStreak(trace: readonly number[], patience: number): number {
  let streak = 0;
  for (let i = 0; i < trace.length; i++) {
    streak = trace[i] === 1 ? streak + 1 : 0;
    if (streak === patience) return i + 1;
  }
  return -1;
}

/** trackEmotion, then a block that publishes a constant `stepSize` signal (as emoPulse does) and takes an SGD step. */
function withStepSize(): GradientTransformation<StateValue> {
  const step: GradientTransformation<Record<string, never>> = {
    name: 'fakeV3Step',
    init: () => ({}),
    update(updates, state, _params, context) {
      context.publish('stepSize', tf.scalar(0.25), 'fakeV3Step');
      const scaled = Object.fromEntries(Object.entries(updates).map(([k, u]) => [k, tf.mul(u, -1e-2)]));
      return { updates: scaled, state };
    },
  };
  return chain(trackEmotion(), step) as unknown as GradientTransformation<StateValue>;
}

describe('stopOnCalm', () => {
  it('stops model.fit at the first calm step (patience 1), later with patience 3; calm is on when it stops', async () => {
    const trace = await calmTrace();
    const first = stepOfStreak(trace, 1);
    const third = stepOfStreak(trace, 3);
    // the problem does what the test needs: calm turns on well inside 100 epochs, and stays on
    expect(first).toBeGreaterThan(32);
    expect(first).toBeLessThan(100 * STEPS_PER_EPOCH * 0.75);
    expect(third).toBeGreaterThan(first);

    for (const [patience, expected] of [[1, first], [3, third]] as const) {
      const { x, y, model, release } = calmProblem();
      const optimizer = emoSens({ lr: 1e-2 });
      model.compile({ optimizer, loss: 'meanSquaredError' });
      const callback = stopOnCalm(optimizer, { patience });
      const history = await model.fit(x, y, { ...FIT, epochs: 100, callbacks: [callback] });
      expect(optimizer.iterations).toBe(expected);
      expect(callback.stopped).toEqual({
        epoch: Math.floor((expected - 1) / STEPS_PER_EPOCH),
        batch: (expected - 1) % STEPS_PER_EPOCH,
        step: expected,
      });
      // fit stopped inside that epoch: History records it (tfjs runs onEpochEnd for it) and no later one
      expect(history.epoch.length).toBe(callback.stopped!.epoch + 1);
      expect(history.epoch.length).toBeLessThan(100);
      expect(optimizer.readSignal('calm')).toBe(1);
      optimizer.dispose();
      release();
    }
  });

  it('stops at the same step when every step runs fused (cpu target, exact precision)', async () => {
    const first = stepOfStreak(await calmTrace(), 1);
    const unregister = registerCpuKernels({ precision: 'exact' });
    try {
      const { x, y, model, release } = calmProblem();
      const optimizer = emoSens({ lr: 1e-2 });
      model.compile({ optimizer, loss: 'meanSquaredError' });
      const callback = stopOnCalm(optimizer);
      await model.fit(x, y, { ...FIT, epochs: 100, callbacks: [callback, emotionLogs(optimizer)] });
      expect(optimizer.path).toBe('fused');
      expect(callback.stopped?.step).toBe(first);
      optimizer.dispose();
      release();
    } finally {
      unregister();
    }
  });

  it("with check: 'epoch', stops at the end of the first epoch whose last step is calm", async () => {
    const trace = await calmTrace();
    const epochEnds = trace.filter((_, i) => (i + 1) % STEPS_PER_EPOCH === 0);
    const expectedEpoch = epochEnds.indexOf(1);
    const { x, y, model, release } = calmProblem();
    const optimizer = emoSens({ lr: 1e-2 });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const callback = stopOnCalm(optimizer, { check: 'epoch' });
    const history = await model.fit(x, y, { ...FIT, epochs: 100, callbacks: [callback] });
    expect(callback.stopped).toEqual({ epoch: expectedEpoch, batch: undefined, step: (expectedEpoch + 1) * STEPS_PER_EPOCH });
    expect(history.epoch.length).toBe(expectedEpoch + 1);
    optimizer.dispose();
    release();
  });

  it('reads one scalar per check and nothing else', async () => {
    /** Backend reads during a 3-epoch fit of a fresh model and optimizer, with the callbacks `make` gives. */
    const readsOfFit = async (make: (optimizer: TransformOptimizer) => tfl.Callback[]) => {
      const { x, y, model, release } = calmProblem();
      const optimizer = emoSens({ lr: 1e-2 });
      model.compile({ optimizer, loss: 'meanSquaredError' });
      const reads = await countReads(async () => void (await model.fit(x, y, { ...FIT, epochs: 3, callbacks: make(optimizer) })));
      optimizer.dispose();
      release();
      return reads;
    };
    /** Backend reads of one readSignalAsync('calm'). */
    const optimizer = emoSens();
    const w = tf.variable(tf.ones([2]));
    optimizer.minimize(() => tf.sum(tf.square(w)) as tf.Scalar);
    const perCheck = await countReads(async () => void (await optimizer.readSignalAsync('calm')));
    optimizer.dispose();
    w.dispose();
    expect(perCheck).toBeGreaterThan(0);

    const plain = await readsOfFit(() => []);
    expect(await readsOfFit((o) => [stopOnCalm(o)])).toBe(plain + 3 * STEPS_PER_EPOCH * perCheck);
    expect(await readsOfFit((o) => [stopOnCalm(o, { check: 'epoch' })])).toBe(plain + 3 * perCheck);
  });

  it('works with a chain that also publishes stepSize (the v3 signals)', async () => {
    const { x, y, model, release } = calmProblem();
    const optimizer = new TransformOptimizer(withStepSize());
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const callback = stopOnCalm(optimizer);
    await model.fit(x, y, { ...FIT, epochs: 3, callbacks: [callback] });
    // 12 steps: fewer than the calm window (32), so calm cannot be on yet
    expect(callback.stopped).toBeUndefined();
    expect(optimizer.iterations).toBe(3 * STEPS_PER_EPOCH);
    optimizer.dispose();
    release();
  });

  it('throws a clear EmosensError at train begin for an optimizer without a calm signal (adam), before any step', async () => {
    const { x, y, model, release } = calmProblem();
    const optimizer = adam({ lr: 1e-2 });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const count = tf.memory().numTensors;
    const error = await model.fit(x, y, { ...FIT, epochs: 2, callbacks: [stopOnCalm(optimizer)] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmosensError);
    expect((error as EmosensError).code).toBe('MISSING_SIGNAL');
    expect((error as EmosensError).message).toMatch(/stopOnCalm: the optimizer 'adam' publishes no 'calm' signal/);
    // nothing ran, nothing leaked, and the model can be fit again
    expect(optimizer.iterations).toBe(0);
    expect(optimizer.state).toBeUndefined();
    expect(tf.memory().numTensors).toBe(count);
    await model.fit(x, y, { ...FIT, epochs: 1 });
    expect(optimizer.iterations).toBe(STEPS_PER_EPOCH);
    // after a step, the check uses the signals of the last step
    await expect(model.fit(x, y, { ...FIT, epochs: 1, callbacks: [stopOnCalm(optimizer)] })).rejects.toThrow(/publishes no 'calm'/);
    optimizer.dispose();
    release();
  });

  it('when the train-begin probe cannot run the transform, finds a missing calm signal at the first check', async () => {
    // publishes only stepSize, and refuses a number loss (fit gives a tensor; the probe gives 1)
    const tensorLossOnly: GradientTransformation<Record<string, never>> = {
      name: 'tensorLossOnly',
      init: () => ({}),
      update(updates, state, _params, context) {
        if (typeof context.loss === 'number') throw new Error('tensorLossOnly: wants a tensor loss');
        context.publish('stepSize', tf.scalar(1), 'tensorLossOnly');
        return { updates: Object.fromEntries(Object.entries(updates).map(([k, u]) => [k, tf.mul(u, -1e-2)])), state };
      },
    };
    const { x, y, model, release } = calmProblem();
    const optimizer = new TransformOptimizer(tensorLossOnly as unknown as GradientTransformation<StateValue>);
    model.compile({ optimizer, loss: 'meanSquaredError' });
    await expect(model.fit(x, y, { ...FIT, epochs: 2, callbacks: [stopOnCalm(optimizer)] })).rejects.toThrow(
      /stopOnCalm: the optimizer with transform 'tensorLossOnly' publishes no 'calm' signal/,
    );
    expect(optimizer.iterations).toBe(1);
    await expect(model.fit(x, y, { ...FIT, epochs: 2, callbacks: [emotionLogs(optimizer)] })).rejects.toThrow(/publishes no 'emotion'/);
    optimizer.dispose();
    release();
  });

  it('refuses bad options, a tf.train optimizer, and a model compiled with another optimizer', async () => {
    const optimizer = emoSens();
    expect(() => stopOnCalm(optimizer, { patience: 0 })).toThrow(/option 'patience' must be an integer >= 1/);
    expect(() => stopOnCalm(optimizer, { patience: 1.5 })).toThrow(EmosensError);
    expect(() => stopOnCalm(optimizer, { check: 'step' as 'batch' })).toThrow(/option 'check' must be 'batch' or 'epoch', got step/);
    const tfAdam = tf.train.adam();
    expect(() => stopOnCalm(tfAdam as unknown as TransformOptimizer)).toThrow(/must be an @emosens\/tfjs optimizer.*AdamOptimizer/);
    tfAdam.dispose();

    const { x, y, model, release } = calmProblem();
    const other = emoSens();
    model.compile({ optimizer: other, loss: 'meanSquaredError' });
    await expect(model.fit(x, y, { ...FIT, epochs: 1, callbacks: [stopOnCalm(optimizer)] })).rejects.toThrow(
      /stopOnCalm: the model is compiled with another optimizer/,
    );
    await expect(model.fit(x, y, { ...FIT, epochs: 1, callbacks: [emotionLogs(optimizer)] })).rejects.toThrow(
      /emotionLogs: the model is compiled with another optimizer/,
    );
    [optimizer, other].forEach((o) => o.dispose());
    release();
  });
});

describe('emotionLogs', () => {
  it('puts emotion and calm into every batch log and, with the last step of each epoch, into history', async () => {
    const { x, y, model, release } = calmProblem();
    const optimizer = emoSens({ lr: 1e-2 });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const seen: { emotion: number; calm: number; stepSize: unknown; exact: number }[] = [];
    const atEpochEnd: number[] = [];
    // a callback after emotionLogs sees its keys in the same logs object
    const after = new tfl.CustomCallback({
      onBatchEnd: async (_batch, logs) => {
        seen.push({ emotion: logs!['emotion']!, calm: logs!['calm']!, stepSize: logs!['stepSize'], exact: optimizer.readSignal('emotion')! });
      },
      onEpochEnd: async () => void atEpochEnd.push(optimizer.readSignal('emotion')!),
    });
    const history = await model.fit(x, y, { ...FIT, epochs: 3, callbacks: [emotionLogs(optimizer), after] });
    expect(seen.length).toBe(3 * STEPS_PER_EPOCH);
    for (const s of seen) {
      expect(s.emotion).toBe(s.exact);
      expect(Math.abs(s.emotion)).toBeLessThan(1);
      expect(s.calm).toBe(0);
      expect(s.stepSize).toBeUndefined();
    }
    expect(Object.keys(history.history).sort()).toEqual(['calm', 'emotion', 'loss']);
    expect(history.history['emotion']).toEqual(atEpochEnd);
    expect(history.history['calm']).toEqual([0, 0, 0]);
    optimizer.dispose();
    release();
  });

  it("logs every `every`-th batch, counted across epochs; history still gets each epoch's last step", async () => {
    const { x, y, model, release } = calmProblem();
    const optimizer = emoSens({ lr: 1e-2 });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const logged: boolean[] = [];
    const atEpochEnd: number[] = [];
    const after = new tfl.CustomCallback({
      onBatchEnd: async (_batch, logs) => void logged.push('emotion' in logs!),
      onEpochEnd: async () => void atEpochEnd.push(optimizer.readSignal('emotion')!),
    });
    const callback = emotionLogs(optimizer, { every: 3 });
    expect(callback).toBeInstanceOf(EmotionLogs);
    const history = await model.fit(x, y, { ...FIT, epochs: 3, callbacks: [callback, after] });
    expect(logged).toEqual(Array.from({ length: 12 }, (_, i) => i % 3 === 0));
    expect(history.history['emotion']).toEqual(atEpochEnd);
    expect(() => emotionLogs(optimizer, { every: 0 })).toThrow(/option 'every' must be an integer >= 1/);
    optimizer.dispose();
    release();
  });

  it('logs stepSize when the optimizer publishes it', async () => {
    const { x, y, model, release } = calmProblem();
    const optimizer = new TransformOptimizer(withStepSize());
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const history = await model.fit(x, y, { ...FIT, epochs: 2, callbacks: [emotionLogs(optimizer)] });
    expect(history.history['stepSize']).toEqual([0.25, 0.25]);
    expect(history.history['emotion']!.length).toBe(2);
    optimizer.dispose();
    release();
  });

  it('throws a clear EmosensError at train begin for an optimizer without an emotion signal', async () => {
    const { x, y, model, release } = calmProblem();
    const optimizer = adam();
    model.compile({ optimizer, loss: 'meanSquaredError' });
    await expect(model.fit(x, y, { ...FIT, epochs: 1, callbacks: [emotionLogs(optimizer)] })).rejects.toThrow(
      /emotionLogs: the optimizer 'adam' publishes no 'emotion' signal/,
    );
    optimizer.dispose();
    release();
  });
});

describe('with the v3 blocks (trackEmotionV3, emoPulse)', () => {
  it('both callbacks run: emotion, stepSize and calm reach history; stopOnCalm watches the same calm signal', async () => {
    // v3's step: a signed step of emoPulse's step size
    const byStepSize: GradientTransformation<Record<string, never>> = {
      name: 'byStepSize',
      init: () => ({}),
      update(updates, state, _params, context) {
        const size = context.read('stepSize', 'byStepSize');
        return { updates: Object.fromEntries(Object.entries(updates).map(([k, u]) => [k, tf.mul(tf.sign(u), tf.neg(size))])), state };
      },
    };
    const { x, y, model, release } = calmProblem();
    const optimizer = new TransformOptimizer(chain(trackEmotionV3(), emoPulse({ lr: 10 }), byStepSize) as unknown as GradientTransformation<StateValue>);
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const atEpochEnd: { emotion: number; stepSize: number; calm: number }[] = [];
    const after = new tfl.CustomCallback({
      onEpochEnd: async () =>
        void atEpochEnd.push({
          emotion: optimizer.readSignal('emotion')!,
          stepSize: optimizer.readSignal('stepSize')!,
          calm: optimizer.readSignal('calm')!,
        }),
    });
    const callback = stopOnCalm(optimizer, { check: 'epoch' });
    const history = await model.fit(x, y, { ...FIT, epochs: 5, callbacks: [emotionLogs(optimizer), callback, after] });
    expect(Object.keys(history.history).sort()).toEqual(['calm', 'emotion', 'loss', 'stepSize']);
    expect(history.history['emotion']).toEqual(atEpochEnd.map((e) => e.emotion));
    expect(history.history['stepSize']).toEqual(atEpochEnd.map((e) => e.stepSize));
    expect(history.history['calm']).toEqual(atEpochEnd.map((e) => e.calm));
    expect(history.history['stepSize']!.every((v) => (v as number) > 0)).toBe(true);
    // this problem does not meet v3's stop rule within 5 epochs: the fit runs to the end
    expect(callback.stopped).toBeUndefined();
    expect(history.epoch.length).toBe(5);
    optimizer.dispose();
    release();
  });
});

describe('types', () => {
  it('the callbacks are tfjs-layers Callbacks with typed options', () => {
    const optimizer = emoSens();
    expectTypeOf(stopOnCalm(optimizer)).toEqualTypeOf<StopOnCalm>();
    expectTypeOf(stopOnCalm(optimizer)).toMatchTypeOf<tfl.Callback>();
    expectTypeOf(emotionLogs(optimizer)).toMatchTypeOf<tfl.Callback>();
    expectTypeOf<StopOnCalmOptions['check']>().toEqualTypeOf<'batch' | 'epoch' | undefined>();
    expectTypeOf<EmotionLogsOptions['every']>().toEqualTypeOf<number | undefined>();
    expectTypeOf(stopOnCalm(optimizer).stopped).toEqualTypeOf<CalmStop | undefined>();
    // @ts-expect-error: a tf.train optimizer publishes no signals
    expect(() => stopOnCalm(tf.train.sgd(0.1))).toThrow(EmosensError);
    optimizer.dispose();
  });
});

describe('callbacks and memory', () => {
  it('leak no tensors across fits (both callbacks, stopping or not)', async () => {
    const { x, y, model, release } = calmProblem();
    const optimizer = emoSens({ lr: 1e-2 });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    // the first fit creates the optimizer's state and signals; the probe at its train begin leaves nothing
    const before = tf.memory().numTensors;
    await model.fit(x, y, { ...FIT, epochs: 1, callbacks: [emotionLogs(optimizer), stopOnCalm(optimizer)] });
    const count = tf.memory().numTensors;
    const stateTensors = count - before;
    expect(stateTensors).toBeGreaterThan(0);
    const callback = stopOnCalm(optimizer, { patience: 2 });
    await model.fit(x, y, { ...FIT, epochs: 100, callbacks: [emotionLogs(optimizer, { every: 2 }), callback] });
    expect(callback.stopped).toBeDefined();
    expect(tf.memory().numTensors).toBe(count);
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(count - stateTensors);
    release();
  });

  it('the probe at train begin (before the first step) creates and keeps nothing', async () => {
    const { model, release } = calmProblem();
    const optimizer = emoSens({ lr: 1e-2 });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const callback = stopOnCalm(optimizer);
    expect(callback).toBeInstanceOf(StopOnCalm);
    callback.setModel(model);
    const count = tf.memory().numTensors;
    await callback.onTrainBegin();
    expect(tf.memory().numTensors).toBe(count);
    expect(optimizer.state).toBeUndefined();
    expect(optimizer.iterations).toBe(0);
    optimizer.dispose();
    release();
  });
});
