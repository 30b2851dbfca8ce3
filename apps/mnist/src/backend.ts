import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { BackendName } from './args.js';

export type BackendSetup =
  | {
      ok: true;
      detail: string;
      /** Whether `dataSync` works (not on webgpu in Node, which lacks OffscreenCanvas). */
      syncReads: boolean;
    }
  | { ok: false; message: string };

/**
 * Selects the tfjs backend. `cpu` always works; `wasm` runs the package's bundled
 * .wasm single-threaded (Node cannot start tfjs's blob-URL workers); `webgpu` needs
 * a `navigator.gpu`, from the runtime or from the optional `webgpu` npm package
 * (Dawn). When a backend cannot start, the result says why instead of throwing.
 */
export async function setupBackend(name: BackendName): Promise<BackendSetup> {
  // tfjs-core otherwise prints a hint about tfjs-node on first use in Node.
  tf.env().set('IS_NODE', false);
  switch (name) {
    case 'cpu':
      return select('cpu', 'JavaScript cpu backend');
    case 'wasm': {
      await import('@tensorflow/tfjs-backend-wasm');
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      const result = await select('wasm', 'WebAssembly backend (single thread)');
      if (result.ok) result.detail += tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? ', SIMD' : ', no SIMD';
      return result;
    }
    case 'webgpu':
      return setupWebGpu();
  }
}

async function select(name: string, detail: string): Promise<BackendSetup> {
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
  return { ok: true, detail, syncReads: name !== 'webgpu' };
}

async function setupWebGpu(): Promise<BackendSetup> {
  const globals = globalThis as { navigator?: { gpu?: unknown } };
  if (globals.navigator?.gpu === undefined) {
    // The optional `webgpu` package provides navigator.gpu in Node; it is not a
    // dependency of this app (it ships native binaries), so load it only if present.
    const specifier = 'webgpu';
    try {
      const dawn = (await import(specifier)) as { create(flags: string[]): unknown; globals: object };
      Object.assign(globalThis, dawn.globals);
      Object.defineProperty(globalThis, 'navigator', {
        value: { ...(globals.navigator ?? {}), gpu: dawn.create([]) },
        configurable: true,
        writable: true,
      });
    } catch {
      return {
        ok: false,
        message:
          '--backend webgpu: WebGPU is not available here (no navigator.gpu, and the optional `webgpu` npm package ' +
          'that provides it in Node is not installed). Use --backend cpu or wasm.',
      };
    }
  }
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (error) {
    return { ok: false, message: `--backend webgpu: @tensorflow/tfjs-backend-webgpu could not load (${String(error)})` };
  }
  const result = await select('webgpu', 'WebGPU backend');
  if (!result.ok) {
    result.message +=
      '. In Node, the `webgpu` package needs a Vulkan driver with a usable adapter ' +
      '(without a GPU: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json from Debian\'s chromium)';
  }
  return result;
}
