import { setupNodeWebGpu } from '../src/index.js';

/** WebGPU in this process (set up once, not activated), or why it is unavailable. */
export const webgpu = await setupNodeWebGpu({ setBackend: false });
if (!webgpu.ok) console.warn(`WebGPU tests skipped: ${webgpu.reason}`);
