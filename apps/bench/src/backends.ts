import * as tf from '@tensorflow/tfjs-core';
import { registerCpuKernels, registerWasmKernels } from '@emosens/backend-cpu';
import type { TimingOptions } from './timing.js';
import { measureWebGpuFloor } from './webgpu-floor.js';

/** Whether a backend can run here, and if not, why. */
export type Availability = { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly reason: string };

/**
 * A backend the benchmark can measure. Add one by implementing this and listing it in
 * {@link knownBackends}; a backend that cannot run here is skipped with its reason.
 */
export interface BenchBackend {
  readonly name: string;
  /** Makes this the active tfjs backend, or says why it cannot. */
  activate(): Promise<Availability>;
  /** Registers this backend's fused emosens kernels; returns the function that unregisters them. */
  registerKernels(): () => void;
  /** Waits until the work queued for `t` is done (GPU backends); nothing to wait for on cpu. */
  sync(t: tf.Tensor): Promise<void>;
  /**
   * The memory floor on this backend's own memory (a pass on the device), when it keeps its
   * tensors off the host; otherwise the floor is a JavaScript pass over host memory.
   */
  readonly floor?: DeviceFloor;
}

/** A memory floor measured on a backend's device: reads 4 and writes 3 float32 arrays of the size. */
export interface DeviceFloor {
  /** How it is measured, for the report. */
  readonly what: string;
  /** Median ms of one pass over `n` entries. */
  measure(n: number, timing: TimingOptions): Promise<number>;
}

/** The tfjs cpu backend with `@emosens/backend-cpu`'s fused kernels. */
export const cpuBackend: BenchBackend = {
  name: 'cpu',
  async activate() {
    await import('@tensorflow/tfjs-backend-cpu');
    tf.env().set('IS_NODE', false); // no hint about tfjs-node in the output
    if (!(await tf.setBackend('cpu'))) return { ok: false, reason: "tf.setBackend('cpu') failed" };
    return { ok: true, detail: 'tfjs-backend-cpu (JavaScript typed arrays)' };
  },
  registerKernels: registerCpuKernels,
  sync: async () => undefined,
};

/**
 * tfjs-backend-wasm (single-threaded: Node cannot start tfjs's blob-URL workers) with
 * `@emosens/backend-cpu`'s typed-array target over the wasm heap.
 */
export const wasmBackend: BenchBackend = {
  name: 'wasm',
  async activate() {
    await import('@tensorflow/tfjs-backend-wasm');
    tf.env().set('IS_NODE', false);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    if (!(await tf.setBackend('wasm'))) return { ok: false, reason: "tf.setBackend('wasm') failed" };
    return { ok: true, detail: `tfjs-backend-wasm (single thread${tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? ', SIMD' : ''})` };
  },
  registerKernels: registerWasmKernels,
  sync: async () => undefined,
};

interface WebGpuModule {
  registerWebGpuKernels(): () => void;
  waitForWebGpu(): Promise<void>;
}

interface WebGpuNodeModule {
  setupNodeWebGpu(options?: { setBackend?: boolean }): Promise<{ ok: true; adapter: string } | { ok: false; reason: string }>;
}

let webgpuModule: WebGpuModule | undefined;
let nodeModule: WebGpuNodeModule | undefined;

/**
 * tfjs-backend-webgpu with `@emosens/backend-webgpu`'s WGSL fusion target (in Node through
 * the npm package `webgpu`; see that package's README for the driver set-up). Skipped with
 * the reason when the package cannot be loaded or no adapter is found. Every case (and the
 * floor, a WGSL pass) is timed until the device has finished its work, with nothing read
 * back.
 */
export const webgpuBackend: BenchBackend = {
  name: 'webgpu',
  async activate() {
    try {
      // A variable specifier: the package is loaded only when this backend is tried.
      const name = '@emosens/backend-webgpu';
      webgpuModule = (await import(name)) as WebGpuModule;
      nodeModule = (await import(`${name}/node`)) as WebGpuNodeModule;
    } catch (e) {
      return { ok: false, reason: `@emosens/backend-webgpu could not be loaded (${(e as Error).message.split('\n')[0]})` };
    }
    const setup = await nodeModule.setupNodeWebGpu({ setBackend: true });
    return setup.ok ? { ok: true, detail: `adapter: ${setup.adapter}` } : { ok: false, reason: setup.reason };
  },
  registerKernels: () => {
    if (!webgpuModule) throw new Error('webgpu: activate() first');
    return webgpuModule.registerWebGpuKernels();
  },
  async sync() {
    if (!webgpuModule) throw new Error('webgpu: activate() first');
    await webgpuModule.waitForWebGpu();
  },
  floor: {
    what: 'a WGSL pass on the device, four entries (a vec4) per invocation',
    measure: measureWebGpuFloor,
  },
};

/** Every backend the benchmark knows, in the order it measures them. */
export const knownBackends: readonly BenchBackend[] = [cpuBackend, wasmBackend, webgpuBackend];
