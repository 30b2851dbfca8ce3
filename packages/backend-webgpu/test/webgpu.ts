import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll } from 'vitest';
import { registerWebGpuKernels } from '../src/index.js';
import { setupNodeWebGpu } from '../src/node.js';

/** WebGPU in this process (set up once, not activated), or why it is unavailable. */
export const webgpu = await setupNodeWebGpu({ setBackend: false });
if (!webgpu.ok) console.warn(`WebGPU tests skipped: ${webgpu.reason}`);

/**
 * Inside a `describe`: activates the webgpu backend with the fused kernels registered for
 * the block's tests, and restores the cpu backend after them.
 */
export function useWebGpuKernels(): void {
  let unregister: (() => void) | undefined;
  beforeAll(async () => {
    await tf.setBackend('webgpu');
    unregister = registerWebGpuKernels();
  });
  afterAll(async () => {
    unregister?.();
    await tf.setBackend('cpu');
  });
}
