import { registerCpuKernels, registerWasmKernels } from '@emosens/backend-cpu';
// The browser entry of @emosens/backend-webgpu: kernels only (its Node set-up is not imported).
import { registerWebGpuKernels } from '@emosens/backend-webgpu';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

/** The tfjs backends the page can switch between. */
export const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/**
 * The fused optimizer kernels per backend: where a fusion target exists, a whole
 * optimizer step runs as one compiled pass per parameter (an optimizer's `path` then
 * reads `'fused'`). WebGL has no target: its steps run the composed tfjs ops.
 */
export const FUSED_KERNELS: { readonly [B in BackendName]?: { readonly source: string; readonly register: () => () => void } } = {
  cpu: { source: 'registerCpuKernels (@emosens/backend-cpu)', register: () => registerCpuKernels() },
  wasm: { source: 'registerWasmKernels (@emosens/backend-cpu)', register: () => registerWasmKernels() },
  webgpu: { source: 'registerWebGpuKernels (@emosens/backend-webgpu)', register: () => registerWebGpuKernels() },
};

export function isBackendName(name: string): name is BackendName {
  return (BACKENDS as readonly string[]).includes(name);
}

let kernelsRegistered = false;

/** Registers every backend's fused kernels once; a fusion target is looked up by backend name at each step. */
function registerFusedKernels(): void {
  if (kernelsRegistered) return;
  kernelsRegistered = true;
  for (const kernels of Object.values(FUSED_KERNELS)) kernels.register();
}

/**
 * Loads a backend's tfjs package on first use (each is its own chunk of the build; the
 * cpu backend is always there). The wasm backend fetches its .wasm binaries from
 * `tfjs-wasm/` next to the page: copied into the build output by
 * scripts/prepare-assets.mjs, so the page needs no network.
 */
const LOADERS: { readonly [B in BackendName]: () => Promise<void> } = {
  cpu: async () => undefined,
  webgl: async () => {
    await import('@tensorflow/tfjs-backend-webgl');
  },
  webgpu: async () => {
    await import('@tensorflow/tfjs-backend-webgpu');
  },
  wasm: async () => {
    const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
    setWasmPaths(new URL('tfjs-wasm/', document.baseURI).href);
  },
};

export type BackendResult = { ok: true; name: BackendName; fused: string | null } | { ok: false; name: BackendName; reason: string };

/** Switches tfjs to `name` (and registers the fused kernels); says why when the backend cannot start. */
export async function useBackend(name: BackendName): Promise<BackendResult> {
  registerFusedKernels();
  if (tf.getBackend() === name) return { ok: true, name, fused: FUSED_KERNELS[name]?.source ?? null };
  if (name === 'webgpu' && !('gpu' in navigator)) {
    return { ok: false, name, reason: 'this browser has no WebGPU (navigator.gpu is missing)' };
  }
  let ok = false;
  let reason = '';
  try {
    await LOADERS[name]();
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (error) {
    reason = error instanceof Error ? error.message : String(error);
  }
  if (!ok || tf.getBackend() !== name) {
    return { ok: false, name, reason: reason || `the ${name} backend could not start here` };
  }
  return { ok: true, name, fused: FUSED_KERNELS[name]?.source ?? null };
}
