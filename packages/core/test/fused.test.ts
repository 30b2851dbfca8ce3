import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  chain,
  findFusedKernel,
  registerFusedKernel,
  statefulOptimizer,
  type FusedKernel,
  type GradientTransformation,
  type StateValue,
} from '../src/index.js';
import { momentum, multiplyBy, values } from './helpers.js';

/** Momentum SGD, composed, marked as fusable under the key 'testMomentum'. */
function fusableMomentum(): GradientTransformation<StateValue> {
  const composed = chain(momentum(0.5), multiplyBy(-0.1)) as unknown as GradientTransformation<StateValue>;
  return { ...composed, fused: { key: 'testMomentum', options: { beta: 0.5, lr: 0.1 } } };
}

/** The same step done directly on the variables, as a backend kernel would. */
const kernel: FusedKernel = {
  name: 'testMomentum/cpu',
  step({ params, grads, state, options }) {
    const [mState, scaleState] = state as [Record<string, tf.Tensor>, { count: number }];
    const nextM: Record<string, tf.Tensor> = { ...mState };
    for (const [name, g] of Object.entries(grads)) {
      const m = tf.tidy(() => tf.add(tf.mul(mState[name]!, options.beta as number), g));
      tf.tidy(() => params[name]!.assign(tf.sub(params[name]!, tf.mul(m, options.lr as number))));
      nextM[name] = m;
    }
    return { state: [nextM, { count: scaleState.count + 1 }], signals: {} };
  },
};

let unregister: (() => void) | undefined;
afterEach(() => unregister?.());

describe('fused kernels', () => {
  it('are found only for the backend they were registered on', () => {
    unregister = registerFusedKernel('testMomentum', 'cpu', kernel);
    expect(findFusedKernel(fusableMomentum(), 'cpu')).toBe(kernel);
    expect(findFusedKernel(fusableMomentum(), 'webgpu')).toBeUndefined();
    expect(findFusedKernel(chain(momentum(0.5)) as unknown as GradientTransformation<StateValue>, 'cpu')).toBeUndefined();
  });

  it('a step uses the fused kernel when registered, and agrees with the composed path', () => {
    const init = tf.tensor([1, -2, 3]);
    const composed = statefulOptimizer(fusableMomentum(), { w: init });
    unregister = registerFusedKernel('testMomentum', tf.getBackend(), kernel);
    const fused = statefulOptimizer(fusableMomentum(), { w: init });
    const off = statefulOptimizer(fusableMomentum(), { w: init }, { fused: false });
    unregister();
    unregister = undefined;
    // re-register for the fused optimizer's steps only
    const g = tf.tensor([0.5, 0.25, -1]);
    for (let i = 0; i < 3; i++) composed.step({ w: g });
    const un = registerFusedKernel('testMomentum', tf.getBackend(), kernel);
    fused.step({ w: g });
    const afterFirst = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) fused.step({ w: g });
    expect(tf.memory().numTensors).toBe(afterFirst); // replaced state released, nothing leaked
    off.step({ w: g });
    un();
    expect(fused.path).toBe('fused');
    expect(off.path).toBe('composed');
    expect(values(fused.params.w)).toEqual(values(composed.params.w));
    [composed, fused, off].forEach((o) => o.dispose());
  });

  it('falls back to the composed path when the kernel declines the arguments', () => {
    unregister = registerFusedKernel('testMomentum', tf.getBackend(), { ...kernel, supports: () => false });
    const o = statefulOptimizer(fusableMomentum(), { w: tf.tensor([1, 2]) });
    o.step({ w: tf.tensor([1, 1]) });
    expect(o.path).toBe('composed');
    expect(values(o.params.w)).toEqual(Array.from(Float32Array.from([0.9, 1.9])));
    o.dispose();
  });

  it('validates gradients and the loss before a fused kernel runs', () => {
    let calls = 0;
    unregister = registerFusedKernel('testMomentum', tf.getBackend(), { ...kernel, step: (a) => { calls += 1; return kernel.step(a); } });
    const o = statefulOptimizer(fusableMomentum(), { w: tf.tensor([1, 2]) });
    expect(() => o.step({ w: tf.ones([3]) })).toThrowError(/has shape \[3\]; expected \[2\]/);
    expect(() => o.step({ w: tf.ones([2]) }, { loss: tf.tensor([1, 2]) as tf.Scalar })).toThrowError(/loss: expected a number or a scalar tensor/);
    expect(calls).toBe(0);
    expect(values(o.params.w)).toEqual([1, 2]);
    o.dispose();
  });
});
