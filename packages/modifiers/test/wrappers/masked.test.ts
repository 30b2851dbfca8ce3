import * as tf from '@tensorflow/tfjs-core';
import { chain, disposeReplaced, explainFusion, runTransform, type GradientTransformation, type StateValue } from '@emosens/core';
import { scaleByAdam } from '@emosens/moments';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFusedTwinsEqual, v } from './twins.js';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle.
import { registerCpuKernels } from '../../../backend-cpu/src/index.js';
import { addDecayedWeights, masked, scaleByLearningRate } from '../../src/index.js';


describe('masked: hand-derived', () => {
  it('runs the inner block on the selected parameters only; the others pass through', () => {
    // inner: u * -2 (lr 2); mask by rank: w (a matrix) is selected, b (a vector) is not
    const tx = masked(scaleByLearningRate(2), (_name, p) => p.rank >= 2);
    const params = { w: tf.zeros([1, 2]), b: tf.zeros([2]) };
    const r = runTransform(tx, params, tx.init(params), { w: tf.tensor2d([[1, -3]]), b: tf.tensor1d([5, 7]) });
    expect(v(r.updates.w)).toEqual([-2, 6]);
    expect(v(r.updates.b)).toEqual([5, 7]);
  });

  it('takes a record name -> boolean, and keeps inner state only for the selected parameters', () => {
    const tx = masked(scaleByAdam(), { w: true, b: false });
    const params = { w: tf.ones([2]), b: tf.ones([3]) };
    const state = tx.init(params);
    expect(Object.keys(state.mu)).toEqual(['w']);
    expect(Object.keys(state.nu)).toEqual(['w']);
    const r = runTransform(tx, params, state, { w: tf.tensor1d([1, -1]), b: tf.tensor1d([4, 5, 6]) });
    // Adam's first step with bias correction: m_hat = g, v_hat = g^2, so u = g / (|g| + 1e-8) = +-1 (to float32)
    expect(v(r.updates.w)).toEqual([expect.closeTo(1, 6), expect.closeTo(-1, 6)]);
    expect(v(r.updates.b)).toEqual([4, 5, 6]);
    expect(Object.keys(r.state.mu)).toEqual(['w']);
  });

  it('passes the selected parameters to the inner block (decay of the matrices only)', () => {
    // addDecayedWeights(0.5): u + 0.5 p, on w only
    const tx = masked(addDecayedWeights(0.5), (name) => name === 'w');
    const params = { w: tf.tensor1d([2, 4]), b: tf.tensor1d([8]) };
    const r = runTransform(tx, params, tx.init(params), { w: tf.tensor1d([1, 1]), b: tf.tensor1d([1]) });
    expect(v(r.updates.w)).toEqual([2, 3]);
    expect(v(r.updates.b)).toEqual([1]);
  });

  it('refuses a mask that is neither a function nor a record of booleans, and a record missing a parameter', () => {
    const inner = scaleByLearningRate(1);
    expect(() => masked(inner, 3 as never)).toThrow(/masked: option 'mask' must be a function/);
    expect(() => masked(inner, { w: 'yes' } as never)).toThrow(/masked: option 'mask' must map each parameter to true or false; 'w'/);
    const tx = masked(inner, { w: true });
    expect(() => tx.init({ w: tf.zeros([1]), b: tf.zeros([1]) })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringMatching(/does not name parameter 'b'/) }));
  });

  it('leaks nothing', () => {
    const tx = masked(scaleByAdam(), (n) => n === 'w');
    const params = { w: tf.ones([3]), b: tf.ones([2]) };
    let state = tx.init(params);
    const before = tf.memory().numTensors;
    for (let t = 0; t < 3; t++) {
      const grads = { w: tf.tensor1d([1, -2, 3]), b: tf.tensor1d([1, 2]) };
      const r = runTransform(tx, params, state, grads);
      disposeReplaced(state, r.state);
      // b's update is its gradient, passed through: released once, with the gradients
      tf.dispose([...new Set([...Object.values(r.updates), ...Object.values(grads)])]);
      state = r.state;
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('masked: fused inside a chain on the typed-array target', () => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerCpuKernels({ precision: 'exact' });
  });
  afterAll(() => unregister());

  it('fused == composed bit for bit, and nothing leaks per step', () => {
    // AdamW that decays the matrices only; Adam's moments only for w under a second mask
    const make = () =>
      chain(
        masked(scaleByAdam(), { w: true, b: false }),
        masked(addDecayedWeights(0.1), (_n, p) => p.rank >= 2),
        scaleByLearningRate((t) => 0.05 / (t + 1)),
      ) as GradientTransformation<StateValue>;
    expect(explainFusion(make(), 'cpu')).toEqual({ fused: true, target: 'typed-array' });
    expectFusedTwinsEqual(make, 6);
  });
});
