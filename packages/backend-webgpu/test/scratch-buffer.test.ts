import * as tf from '@tensorflow/tfjs-core';
import { statefulOptimizer } from '@emosens/core';
import { emoSens } from '@emosens/optimizers';
import { describe, expect, it } from 'vitest';
import { useWebGpuKernels, webgpu } from './webgpu.js';

describe.skipIf(!webgpu.ok)('the scratch buffer of the WGSL target', () => {
  useWebGpuKernels();

  it('is one buffer per device: a step that needs a larger one replaces it, and the old one is destroyed once its work is done', async () => {
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    const created: { buffer: GPUBuffer; destroyed: boolean }[] = [];
    const createBuffer = device.createBuffer.bind(device);
    device.createBuffer = (descriptor: GPUBufferDescriptor) => {
      const buffer = createBuffer(descriptor);
      if (descriptor.label === 'emosens.scratch') {
        const entry = { buffer, destroyed: false };
        const destroy = buffer.destroy.bind(buffer);
        buffer.destroy = () => {
          entry.destroyed = true;
          destroy();
        };
        created.push(entry);
      }
      return buffer;
    };
    try {
      // Steps with 1, then 100 parameters: the per-parameter scalars kept in the scratch buffer grow with the count.
      for (const count of [1, 100]) {
        const params = Object.fromEntries(Array.from({ length: count }, (_, i) => [`p${i}`, tf.variable(tf.fill([4], 0.5))]));
        const grads = Object.fromEntries(Object.keys(params).map((k) => [k, tf.fill([4], 0.1)]));
        const opt = statefulOptimizer(emoSens({ useShadow: true }), params);
        for (let s = 0; s < 2; s++) opt.step(grads, { loss: 1 - s * 0.1 });
        expect(opt.path).toBe('fused');
        await device.queue.onSubmittedWorkDone();
        await new Promise((resolve) => setTimeout(resolve, 0));
        opt.dispose();
        tf.dispose([...Object.values(params), ...Object.values(grads)]);
      }
      expect(created.length).toBeGreaterThanOrEqual(2); // the buffer grew at least once
      // Every buffer but the live one was destroyed; the live one is the last and the largest.
      expect(created.slice(0, -1).every((c) => c.destroyed)).toBe(true);
      expect(created.at(-1)!.destroyed).toBe(false);
      expect(created.at(-1)!.buffer.size).toBe(Math.max(...created.map((c) => c.buffer.size)));
    } finally {
      device.createBuffer = createBuffer;
    }
  });
});
