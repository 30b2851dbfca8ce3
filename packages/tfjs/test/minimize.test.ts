import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { EmosensError, chain } from '@emosens/core';
import { TransformOptimizer } from '../src/index.js';
import { bits, bowl, momentumSgd, recordLoss, type MomentumState } from './helpers.js';

type RecordState = [{ last: tf.Scalar }, MomentumState];

describe('TransformOptimizer.minimize', () => {
  it('is a tf.Optimizer', () => {
    const opt = new TransformOptimizer(momentumSgd());
    expect(opt).toBeInstanceOf(tf.Optimizer);
    expect(opt.getClassName()).toBe('EmosensOptimizer');
    opt.dispose();
  });

  it('hands the loss it computes to the chain, and returns it when asked', () => {
    const w = tf.variable(tf.tensor1d([0, 0, 0]));
    const opt = new TransformOptimizer(chain(recordLoss(), momentumSgd()));
    const cost = opt.minimize(bowl(w), true);
    // loss at w = 0: 1 + 4 + 0.25
    expect(cost?.dataSync()[0]).toBeCloseTo(5.25, 6);
    const state = opt.state as unknown as RecordState;
    expect(state[0].last.dataSync()[0]).toBeCloseTo(5.25, 6);
    expect(opt.minimize(bowl(w), false)).toBeNull();
    expect(opt.iterations).toBe(2);
    cost?.dispose();
    opt.dispose();
    w.dispose();
  });

  it('takes the momentum step p <- p - lr * (beta * m + g)', () => {
    const w = tf.variable(tf.tensor1d([0, 0, 0]));
    const opt = new TransformOptimizer(momentumSgd(0.1, 0.5));
    // step 1: g = 2 (w - t) = [-2, 4, -1]; m = g; w = -0.1 m = [0.2, -0.4, 0.1]
    opt.minimize(bowl(w));
    expect(Array.from(w.dataSync())).toEqual(Array.from(new Float32Array([0.2, -0.4, 0.1])));
    // step 2: g = 2 ([0.2, -0.4, 0.1] - t) = [-1.6, 3.2, -0.8]; m = 0.5 m + g = [-2.6, 5.2, -1.3]
    opt.minimize(bowl(w));
    const expected = [0.2 + 0.26, -0.4 - 0.52, 0.1 + 0.13];
    Array.from(w.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
    expect((opt.state as MomentumState).count).toBe(2);
    opt.dispose();
    w.dispose();
  });

  it('minimizes a quadratic bowl', () => {
    const w = tf.variable(tf.tensor1d([3, 3, 3]));
    const opt = new TransformOptimizer(momentumSgd(0.05, 0.9));
    const f = bowl(w);
    const first = tf.tidy(() => f().dataSync()[0]!);
    for (let i = 0; i < 100; i++) opt.minimize(f);
    const last = tf.tidy(() => f().dataSync()[0]!);
    expect(last).toBeLessThan(first * 1e-3);
    opt.dispose();
    w.dispose();
  });

  it('updates only varList, and creates state only for it', () => {
    const w = tf.variable(tf.tensor1d([0, 0, 0]));
    const b = tf.variable(tf.scalar(1));
    const opt = new TransformOptimizer(momentumSgd());
    const f = () => tf.add(bowl(w)(), tf.square(b)) as tf.Scalar;
    opt.minimize(f, false, [w]);
    expect(b.dataSync()[0]).toBe(1);
    expect(opt.parameterNames).toEqual([w.name]);
    expect(Object.keys((opt.state as MomentumState).m)).toEqual([w.name]);
    opt.dispose();
    w.dispose();
    b.dispose();
  });

  it('extends the state when new variables appear, keeping the existing state', () => {
    const w = tf.variable(tf.tensor1d([0, 0, 0]));
    const b = tf.variable(tf.scalar(1));
    const opt = new TransformOptimizer(momentumSgd(0.1, 0.5));
    opt.minimize(bowl(w), false, [w]);
    const mW = bits((opt.state as MomentumState).m[w.name]!);
    // b joins w (a step over b alone, sharing no variable with w, would be a second model's: refused)
    opt.minimize(() => tf.add(tf.mul(bowl(w)(), 0), tf.square(b)) as tf.Scalar, false, [w, b]);
    const state = opt.state as MomentumState;
    expect(opt.parameterNames).toEqual([w.name, b.name]);
    expect(state.count).toBe(2); // the shared counter was not reset by the new variable's init
    expect(bits(state.m[w.name]!)).toEqual(mW.map((v) => v * 0.5)); // w's moment went on (g = 0): m = 0.5 m
    // b: g = 2 b = 2; m = 2; b = 1 - 0.2
    expect(bits(b)).toEqual(new Float32Array([0.8]));
    opt.dispose();
    w.dispose();
    b.dispose();
  });

  it('keeps its state alive inside an enclosing tf.tidy (as tfjs-layers calls it)', () => {
    const w = tf.variable(tf.tensor1d([0, 0, 0]));
    const opt = new TransformOptimizer(chain(recordLoss(), momentumSgd()));
    tf.tidy(() => {
      opt.minimize(bowl(w));
    });
    const state = opt.state as unknown as RecordState;
    expect(state[0].last.isDisposed).toBe(false);
    expect(state[1].m[w.name]!.isDisposed).toBe(false);
    tf.tidy(() => {
      opt.minimize(bowl(w));
    });
    expect(opt.iterations).toBe(2);
    opt.dispose();
    w.dispose();
  });

  it('leaks no tensors across steps, and dispose releases the state', () => {
    const w = tf.variable(tf.tensor1d([0, 0, 0]));
    const before = tf.memory().numTensors;
    const opt = new TransformOptimizer(chain(recordLoss(), momentumSgd()));
    opt.minimize(bowl(w));
    const afterFirst = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) opt.minimize(bowl(w));
    expect(tf.memory().numTensors).toBe(afterFirst);
    const cost = opt.minimize(bowl(w), true);
    expect(tf.memory().numTensors).toBe(afterFirst + 1);
    cost?.dispose();
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    w.dispose();
  });
});

describe('TransformOptimizer.applyGradients', () => {
  it('uses the loss given with setLoss once, then throws MISSING_LOSS', () => {
    const w = tf.variable(tf.tensor1d([0, 0, 0]));
    const opt = new TransformOptimizer(chain(recordLoss(), momentumSgd()));
    const { value, grads } = tf.variableGrads(bowl(w));
    opt.setLoss(value);
    value.dispose(); // the optimizer kept its own copy
    opt.applyGradients(grads);
    expect((opt.state as unknown as RecordState)[0].last.dataSync()[0]).toBeCloseTo(5.25, 6);
    const after = bits(w);
    let error: unknown;
    try {
      opt.applyGradients(grads);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EmosensError);
    expect((error as EmosensError).code).toBe('MISSING_LOSS');
    expect((error as EmosensError).message).toMatch(/setLoss/);
    expect(bits(w)).toEqual(after); // the failed step changed nothing
    expect(opt.iterations).toBe(1);
    tf.dispose(grads);
    opt.dispose();
    w.dispose();
  });

  it('takes a number loss, and a NamedTensor[] of gradients', () => {
    const w = tf.variable(tf.tensor1d([0, 0, 0]));
    const opt = new TransformOptimizer(chain(recordLoss(), momentumSgd()));
    const g = tf.tensor1d([1, 2, 3]);
    opt.setLoss(7.5);
    opt.applyGradients([{ name: w.name, tensor: g }]);
    expect((opt.state as unknown as RecordState)[0].last.dataSync()[0]).toBe(7.5);
    expect(bits(w)).toEqual(new Float32Array([-0.1, -0.2, -0.3]));
    g.dispose();
    opt.dispose();
    w.dispose();
  });

  it('needs no loss when the chain does not ask for one', () => {
    const w = tf.variable(tf.tensor1d([0, 0, 0]));
    const opt = new TransformOptimizer(momentumSgd());
    const g = tf.tensor1d([1, 1, 1]);
    opt.applyGradients({ [w.name]: g });
    expect(bits(w)).toEqual(new Float32Array([-0.1, -0.1, -0.1]));
    g.dispose();
    opt.dispose();
    w.dispose();
  });

  it('refuses gradients for names that are not registered variables', () => {
    const opt = new TransformOptimizer(momentumSgd());
    const g = tf.tensor1d([1]);
    expect(() => opt.applyGradients({ 'no-such-variable': g })).toThrow(/no-such-variable.*not a registered variable/);
    g.dispose();
    opt.dispose();
  });

  it('leaks no tensors across applyGradients + setLoss steps', () => {
    const w = tf.variable(tf.tensor1d([0, 0, 0]));
    const opt = new TransformOptimizer(chain(recordLoss(), momentumSgd()));
    const step = () => {
      const { value, grads } = tf.variableGrads(bowl(w));
      opt.setLoss(value);
      opt.applyGradients(grads);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const count = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(count);
    opt.dispose();
    w.dispose();
  });

  it('rejects a bad onNonFinite option by name', () => {
    expect(() => new TransformOptimizer(momentumSgd(), { onNonFinite: 'ignore' as never })).toThrow(/onNonFinite/);
  });
});
