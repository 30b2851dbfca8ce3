import * as tf from '@tensorflow/tfjs-core';
import { explainFusion, findFusionTarget, statefulOptimizer, type StatefulOptimizer } from '@emosens/core';
import { emoSens } from '@emosens/optimizers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTfOpsTarget, registerNodeGpuKernels, TF_OPS_TARGET } from '../src/index.js';
import { BACKENDS, firstMismatch, leafValues, lossAt, SHAPES, spyOnReads, tensorsAt, TRANSFORMS, useTfOpsTarget } from './helpers.js';

describe('registerNodeGpuKernels', () => {
  it("registers the tf-ops target for 'tensorflow' by default, or for the backend named, and unregisters it", () => {
    expect(createTfOpsTarget()).toMatchObject({ name: TF_OPS_TARGET, guardsNonFinite: true });
    const unregister = registerNodeGpuKernels();
    expect(findFusionTarget('tensorflow')?.name).toBe(TF_OPS_TARGET);
    unregister();
    expect(findFusionTarget('tensorflow')).toBeUndefined();
    const onCpu = registerNodeGpuKernels({ backend: 'cpu' });
    expect(explainFusion(emoSens(), 'cpu')).toEqual({ fused: true, target: TF_OPS_TARGET });
    onCpu();
  });
});

describe.each(BACKENDS)('the tf-ops target on the %s backend', (backend) => {
  const target = useTfOpsTarget(backend);
  afterEach(() => vi.restoreAllMocks());

  for (const [name, make] of Object.entries(TRANSFORMS)) {
    it(`${name}: agrees with the composed path (parameters of rank 0 to 4 and [1], state, signals) over 12 steps`, () => {
      const init = tensorsAt(SHAPES, 0);
      const fused = statefulOptimizer(make(), init);
      const composed = statefulOptimizer(make(), init, { fused: false });
      const runs = target.runs;
      for (let t = 0; t < 12; t++) {
        const grads = tensorsAt(SHAPES, t + 1);
        // a tensor loss on even steps, a number on odd ones
        const loss = t % 2 === 0 ? tf.scalar(lossAt(t)) : lossAt(t);
        fused.step(grads, { loss });
        composed.step(grads, { loss });
        tf.dispose([...Object.values(grads), ...(typeof loss === 'number' ? [] : [loss])]);
        expect([fused.path, composed.path]).toEqual(['fused', 'composed']);
      }
      expect(target.runs - runs).toBe(12);
      for (const p of Object.keys(SHAPES)) {
        const [a, e] = [fused.params[p]!, composed.params[p]!];
        expect(a.shape).toEqual(e.shape);
        expect(firstMismatch(a.dataSync(), e.dataSync()), p).toBe(-1);
      }
      const [a, e] = [leafValues(fused.state), leafValues(composed.state)];
      expect(a.map(([path, dtype, shape]) => [path, dtype, shape])).toEqual(e.map(([path, dtype, shape]) => [path, dtype, shape]));
      e.forEach(([path, , , expected], i) => expect(firstMismatch(a[i]![3], expected), path).toBe(-1));
      expect(Object.keys(fused.signals).sort()).toEqual(Object.keys(composed.signals).sort());
      for (const [signal, value] of Object.entries(composed.signals)) {
        const mine = (fused.signals as Record<string, tf.Tensor>)[signal]!;
        expect([signal, mine.dtype, mine.shape]).toEqual([signal, value.dtype, value.shape]);
        expect(firstMismatch(mine.dataSync(), value.dataSync()), signal).toBe(-1);
      }
      fused.dispose();
      composed.dispose();
      tf.dispose(Object.values(init));
    });
  }

  it('reads nothing back and keeps tf.memory().numTensors flat over 100 steps with a tensor loss', () => {
    const init = tensorsAt(SHAPES, 0);
    for (const [name, make] of Object.entries(TRANSFORMS)) {
      const opt: StatefulOptimizer = statefulOptimizer(make(), init);
      const step = (t: number) => {
        const grads = tensorsAt(SHAPES, t);
        const loss = tf.tidy(() => tf.add(tf.sum(tf.square(opt.params.m!)), lossAt(t)) as tf.Scalar);
        opt.step(grads, { loss });
        tf.dispose([...Object.values(grads), loss]);
      };
      step(0);
      const reads = spyOnReads();
      const before = tf.memory().numTensors;
      for (let t = 1; t <= 100; t++) step(t);
      expect([name, opt.path]).toEqual([name, 'fused']);
      expect([name, reads()]).toEqual([name, 0]);
      expect([name, tf.memory().numTensors]).toEqual([name, before]);
      tf.tidy(() => tf.scalar(1).dataSync()); // the spy sees a readback
      expect(reads()).toBe(1);
      vi.restoreAllMocks();
      opt.dispose();
    }
    tf.dispose(Object.values(init));
  });

  it('launches no more kernels per step than the composed path for any transform, fewer for the reference optimizers (3 parameters)', async () => {
    const shapes = { w: [12, 9], b: [9], k: [2, 3, 4] };
    const init = tensorsAt(shapes, 0);
    const lines: string[] = [];
    for (const [name, make] of Object.entries(TRANSFORMS)) {
      const counts: Record<string, number> = {};
      for (const fused of [true, false]) {
        for (const lossKind of ['tensor', 'number'] as const) {
          const opt = statefulOptimizer(make(), init, { fused });
          let info: Awaited<ReturnType<typeof tf.profile>> | undefined;
          for (let t = 0; t < 3; t++) {
            const grads = tensorsAt(shapes, t + 1);
            const loss = lossKind === 'tensor' ? tf.scalar(lossAt(t)) : lossAt(t);
            info = await tf.profile(() => opt.step(grads, { loss }));
            tf.dispose([...Object.values(grads), ...(typeof loss === 'number' ? [] : [loss])]);
          }
          expect(opt.path).toBe(fused ? 'fused' : 'composed');
          counts[`${fused ? 'fused' : 'composed'} ${lossKind}`] = info!.kernels.length;
          opt.dispose();
        }
      }
      expect(counts['fused tensor'], name).toBeLessThanOrEqual(counts['composed tensor']!);
      if (!/^(chain|cautious)/.test(name)) expect(counts['fused tensor'], name).toBeLessThan(counts['composed tensor']!);
      lines.push(`${name}: fused ${counts['fused tensor']} (${counts['fused number']} with a number loss), composed ${counts['composed tensor']}`);
    }
    console.log(`tf kernels per step on ${backend}, 3 parameters:\n${lines.join('\n')}`);
    tf.dispose(Object.values(init));
  });

  it('declines a step whose tensors live on another backend (tfjs would read them back to move them)', async () => {
    const other = backend === 'cpu' ? 'wasm' : 'cpu';
    await tf.setBackend(other);
    const grads = tensorsAt({ w: [3] }, 1);
    await tf.setBackend(backend);
    const w = tf.variable(tf.tensor([1, 2, 3]));
    const transform = TRANSFORMS.adamw!();
    const state = transform.init({ w });
    expect(explainFusion(transform, backend, { params: { w }, state, grads })).toEqual({
      fused: false,
      reason: 'the tf-ops target declined: a tensor of the step lives on another backend',
    });
    tf.dispose([w, grads.w!, ...leafValues(state).map(() => [])].flat());
  });
});
