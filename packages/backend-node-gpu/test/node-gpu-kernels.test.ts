import * as tf from '@tensorflow/tfjs-core';
import { statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import type {} from '@emosens/emotion';
import { adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { lastNodeGpuDecline, registerNodeGpuKernels } from '../src/index.js';

const SHAPES: Record<string, number[]> = { w: [12, 9], b: [9], k: [2, 3, 4] };

function values(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out[i] = i % 11 === 2 ? 1e-14 : (x / 2147483648) * 2 - 1;
  }
  return out;
}
const initial = () => Object.fromEntries(Object.entries(SHAPES).map(([n, s], i) => [n, tf.tensor(values(tf.util.sizeFromShape(s), i + 1), s)]));
const gradsAt = (t: number) =>
  Object.fromEntries(Object.entries(SHAPES).map(([n, s], i) => [n, tf.tensor(values(tf.util.sizeFromShape(s), 50 * t + i + 3), s)]));

const OPTIMIZERS: Record<string, () => GradientTransformation<StateValue>> = {
  emoSens: () => emoSens({ lr: 0.01 }),
  'emoSens+shadow': () => emoSens({ lr: 0.01, useShadow: true }),
  emoAiry: () => emoAiry({ lr: 0.01, useShadow: true }),
  emoCats: () => emoCats({ lr: 0.001, useShadow: true, decoupledWeightDecay: true }),
  adamw: () => adamw({ lr: 0.01 }),
};

describe('the tfjs-node-gpu kernels, registered on the cpu backend', () => {
  let unregister: (() => void) | undefined;
  beforeAll(() => {
    unregister = registerNodeGpuKernels({ backend: 'cpu' });
  });
  afterAll(() => unregister?.());
  afterEach(() => vi.restoreAllMocks());

  for (const [name, make] of Object.entries(OPTIMIZERS)) {
    it(`${name}: launch fewer kernels per step than the composed ops, and agree with them`, async () => {
      const init = initial();
      const fused = statefulOptimizer(make(), init);
      const composed = statefulOptimizer(make(), init, { fused: false });
      const kernels = async (opt: typeof fused, t: number) => {
        const grads = gradsAt(t);
        const loss = tf.scalar(2 + Math.sin(t) + (t === 3 ? 3 : 0));
        const info = await tf.profile(() => opt.step(grads, { loss }));
        tf.dispose([...Object.values(grads), loss]);
        return { kernels: info.kernels.length, peakBytes: info.peakBytes };
      };
      let fusedKernels = { kernels: 0, peakBytes: 0 };
      let composedKernels = fusedKernels;
      for (let t = 0; t < 6; t++) {
        fusedKernels = await kernels(fused, t);
        composedKernels = await kernels(composed, t);
        expect(fused.path, lastNodeGpuDecline()).toBe('fused');
      }
      expect(fusedKernels.kernels).toBeLessThan(composedKernels.kernels);
      expect(fusedKernels.peakBytes).toBeLessThan(composedKernels.peakBytes);
      for (const p of Object.keys(SHAPES)) {
        const a = fused.params[p]!.dataSync();
        const e = composed.params[p]!.dataSync();
        for (let i = 0; i < e.length; i++) expect(Math.abs(a[i]! - e[i]!), `${p}[${i}]`).toBeLessThanOrEqual(1e-6 + 1e-4 * Math.abs(e[i]!));
      }
      console.log(`${name}: ${fusedKernels.kernels} kernels per step fused, ${composedKernels.kernels} composed (3 parameters)`);
      fused.dispose();
      composed.dispose();
      tf.dispose(Object.values(init));
    });
  }

  it('read nothing back and leak nothing over 10 steps with a tensor loss', () => {
    const init = initial();
    for (const make of Object.values(OPTIMIZERS)) {
      const opt = statefulOptimizer(make(), init);
      const step = (t: number) => {
        const grads = gradsAt(t);
        const loss = tf.tidy(() => tf.sum(tf.square(opt.params.w!)) as tf.Scalar);
        opt.step(grads, { loss });
        tf.dispose([...Object.values(grads), loss]);
      };
      step(0);
      const backend = tf.backend() as unknown as Record<string, unknown>;
      const spies = ['read', 'readSync'].map((m) => vi.spyOn(backend as never, m as never));
      const before = tf.memory().numTensors;
      for (let t = 1; t <= 10; t++) step(t);
      expect(opt.path).toBe('fused');
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
      expect(tf.memory().numTensors).toBe(before);
      vi.restoreAllMocks();
      opt.dispose();
    }
    tf.dispose(Object.values(init));
  });

  it('decline to the composed path, which raises MISSING_LOSS, without a loss', () => {
    const init = initial();
    const opt = statefulOptimizer(emoSens(), init);
    const grads = gradsAt(0);
    expect(() => opt.step(grads)).toThrow(expect.objectContaining({ code: 'MISSING_LOSS' }));
    expect(lastNodeGpuDecline()).toBe('emoSens: no loss');
    opt.dispose();
    tf.dispose([...Object.values(grads), ...Object.values(init)]);
  });
});
