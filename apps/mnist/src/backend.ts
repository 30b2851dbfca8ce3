import { registerCpuKernels, registerWasmKernels } from '@emosens/backend-cpu';
import { registerWebGpuKernels } from '@emosens/backend-webgpu';
import { setupNodeWebGpu } from '@emosens/backend-webgpu/node';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { BackendName } from './args.js';

/** Fused optimizer kernels for one backend: one kernel per optimizer step instead of the composed ops. */
export interface FusedKernels {
  /** What registers them and where it comes from, for the report. */
  readonly source: string;
  /** Registers them; returns the function that unregisters them. */
  readonly register: () => () => void;
}

/**
 * The fused kernels registered on each backend. A backend with no entry runs every
 * optimizer on the composed path (the transform's tfjs ops); adding a backend's kernels
 * is one line here.
 */
export const FUSED_KERNELS: { readonly [B in BackendName]?: FusedKernels } = {
  cpu: { source: 'registerCpuKernels (@emosens/backend-cpu)', register: () => registerCpuKernels() },
  wasm: { source: 'registerWasmKernels (@emosens/backend-cpu)', register: () => registerWasmKernels() },
  webgpu: { source: 'registerWebGpuKernels (@emosens/backend-webgpu)', register: () => registerWebGpuKernels() },
};

export type BackendSetup =
  | {
      ok: true;
      /** The active tfjs backend. */
      name: BackendName;
      detail: string;
      /** Whether `dataSync` works (not on webgpu in Node, which lacks OffscreenCanvas). */
      syncReads: boolean;
      /** The fused kernels registered on this backend ({@link FusedKernels.source}); null when there are none. */
      fusedKernels: string | null;
      /** Unregisters the fused kernels (call when the job is done). */
      release(): void;
    }
  | { ok: false; message: string };

/** A backend that started. */
export type ActiveBackend = Extract<BackendSetup, { ok: true }>;

/**
 * Selects the tfjs backend and registers its fused kernels ({@link FUSED_KERNELS}).
 * `cpu` always works; `wasm` runs the package's bundled .wasm single-threaded (Node
 * cannot start tfjs's blob-URL workers); `webgpu` goes through `setupNodeWebGpu` (`/node`) of
 * `@emosens/backend-webgpu` (in Node: the optional `webgpu` package and a Vulkan driver,
 * chromium's SwiftShader when `VK_ICD_FILENAMES` is unset). When a backend cannot start,
 * the result says why instead of throwing.
 */
export async function setupBackend(name: BackendName): Promise<BackendSetup> {
  const selected = await selectBackend(name);
  if (!selected.ok) return selected;
  const kernels = FUSED_KERNELS[name];
  const unregister = kernels?.register() ?? (() => undefined);
  return {
    ok: true,
    name,
    detail: selected.detail,
    syncReads: name !== 'webgpu',
    fusedKernels: kernels?.source ?? null,
    release: unregister,
  };
}

type Selected = { ok: true; detail: string } | { ok: false; message: string };

async function selectBackend(name: BackendName): Promise<Selected> {
  switch (name) {
    case 'cpu':
      // The cpu backend prints a hint about tfjs-node on its first use when IS_NODE is
      // set. Nothing else reads the flag once tfjs-core has loaded except wasm's thread
      // probe, which is not used here (and is set explicitly below).
      tf.env().set('IS_NODE', false);
      return select('cpu', 'JavaScript cpu backend');
    case 'wasm': {
      await import('@tensorflow/tfjs-backend-wasm');
      // Node cannot start tfjs's blob-URL workers: stay on one thread whatever IS_NODE says.
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      const result = await select('wasm', 'WebAssembly backend (single thread)');
      if (result.ok) result.detail += tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? ', SIMD' : ', no SIMD';
      return result;
    }
    case 'webgpu': {
      // One set-up for the repository: the backend package's. It finds an adapter first
      // (and says why when there is none), then loads tfjs-backend-webgpu.
      const setup = await setupNodeWebGpu({ setBackend: false });
      if (!setup.ok) return { ok: false, message: `--backend webgpu: ${setup.reason}` };
      return select('webgpu', `WebGPU backend, adapter: ${setup.adapter}`);
    }
  }
}

async function select(name: BackendName, detail: string): Promise<Selected> {
  let ok = false;
  let reason = '';
  const warn = console.warn;
  // tfjs reports a failed backend initialisation through console.warn; keep it for the message.
  console.warn = (...args: unknown[]) => {
    reason ||= args.map(String).join(' ');
  };
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (error) {
    reason ||= String(error);
    ok = false;
  } finally {
    console.warn = warn;
  }
  if (!ok || tf.getBackend() !== name) {
    return { ok: false, message: `--backend ${name}: the ${name} backend could not start${reason ? ` (${reason.split('\n')[0]})` : ''}` };
  }
  return { ok: true, detail };
}
