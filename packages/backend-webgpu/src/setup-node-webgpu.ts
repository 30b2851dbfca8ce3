import { getBackend, setBackend } from '@tensorflow/tfjs-core';

/** Where Debian's chromium package keeps its SwiftShader Vulkan driver manifest. */
export const CHROMIUM_SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** The outcome of {@link setupNodeWebGpu}. */
export type WebGpuSetup =
  | { readonly ok: true; /** A description of the adapter found. */ readonly adapter: string }
  | { readonly ok: false; /** Why WebGPU is not available, with what to do about it. */ readonly reason: string };

export interface SetupNodeWebGpuOptions {
  /** Make 'webgpu' the active tfjs backend. Default true. */
  readonly setBackend?: boolean;
  /** The Vulkan driver manifest used when `VK_ICD_FILENAMES` is unset. Default {@link CHROMIUM_SWIFTSHADER_ICD}. */
  readonly icdFile?: string;
}

interface DawnModule {
  create(flags: string[]): GPU;
  globals: object;
}

let pending: Promise<WebGpuSetup> | undefined;

/**
 * Makes tfjs-backend-webgpu usable in Node through the npm package `webgpu` (Dawn):
 * points Vulkan at chromium's SwiftShader driver when `VK_ICD_FILENAMES` is unset and the
 * driver is installed, installs `navigator.gpu` and the WebGPU globals, checks that an
 * adapter exists, loads `@tensorflow/tfjs-backend-webgpu` (which registers the backend only
 * when `navigator.gpu` exists at load time) and, by default, activates the backend.
 *
 * Never throws: resolves `{ ok: false, reason }` when something is missing. Later calls
 * return the first call's result. In a browser with WebGPU it only loads and activates
 * the backend.
 *
 * ```ts
 * const setup = await setupNodeWebGpu();
 * if (!setup.ok) console.warn(`WebGPU skipped: ${setup.reason}`);
 * ```
 *
 * On Debian without a GPU: `apt-get install -y chromium libvulkan1` (chromium 156 bundles
 * its own Vulkan loader, which Dawn does not find unless `LD_LIBRARY_PATH=/usr/lib/chromium`
 * is set when Node starts). SwiftShader runs on the CPU: it is for correctness, not speed.
 */
export function setupNodeWebGpu(options: SetupNodeWebGpuOptions = {}): Promise<WebGpuSetup> {
  pending ??= setUp(options);
  return pending.then(async (result) => {
    if (result.ok && (options.setBackend ?? true) && getBackend() !== 'webgpu' && !(await setBackend('webgpu'))) {
      return { ok: false, reason: "tf.setBackend('webgpu') failed (see the error logged above)" };
    }
    return result;
  });
}

async function setUp(options: SetupNodeWebGpuOptions): Promise<WebGpuSetup> {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  let gpu = g.navigator?.gpu;
  const inNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (!gpu) {
    if (!inNode) return { ok: false, reason: 'this environment has no navigator.gpu (WebGPU is not supported here)' };
    const icdFile = options.icdFile ?? CHROMIUM_SWIFTSHADER_ICD;
    const fs = await import('node:fs');
    if (!process.env.VK_ICD_FILENAMES && fs.existsSync(icdFile)) process.env.VK_ICD_FILENAMES = icdFile;
    // SwiftShader prints an error on stderr when XDG_RUNTIME_DIR is unset (as in CI containers).
    if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = (await import('node:os')).tmpdir();
    let dawn: DawnModule;
    try {
      // A variable specifier keeps bundlers and TypeScript from requiring the optional peer.
      const name = 'webgpu';
      dawn = (await import(name)) as DawnModule;
    } catch (e) {
      return { ok: false, reason: `the npm package 'webgpu' (Dawn for Node) could not be loaded: ${(e as Error).message}` };
    }
    Object.assign(globalThis, dawn.globals);
    gpu = dawn.create([]);
    if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
    else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
  const adapter = await gpu.requestAdapter();
  if (!adapter) return { ok: false, reason: await noAdapterReason(inNode) };
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (e) {
    return { ok: false, reason: `@tensorflow/tfjs-backend-webgpu could not be loaded: ${(e as Error).message}` };
  }
  const info = adapter.info;
  const description = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ');
  return { ok: true, adapter: description || 'unknown adapter' };
}

async function noAdapterReason(inNode: boolean): Promise<string> {
  if (!inNode || process.platform !== 'linux') return 'navigator.gpu.requestAdapter() found no adapter';
  const fs = await import('node:fs');
  const path = await import('node:path');
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu',
    '/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
  ];
  if (!dirs.some((d) => fs.existsSync(path.join(d, 'libvulkan.so.1')))) {
    return (
      'no WebGPU adapter: Dawn could not load the Vulkan loader libvulkan.so.1. Install it ' +
      "(apt-get install -y libvulkan1) or start Node with LD_LIBRARY_PATH=/usr/lib/chromium (Debian's chromium bundles one)"
    );
  }
  const icd = process.env.VK_ICD_FILENAMES;
  if (!icd) return `no WebGPU adapter and no Vulkan driver: install chromium (its SwiftShader driver, ${CHROMIUM_SWIFTSHADER_ICD}) or a GPU driver`;
  return `no WebGPU adapter from the Vulkan driver in VK_ICD_FILENAMES=${icd}`;
}
