import { EmosensError } from '@emosens/core';

/** The module `@tensorflow/tfjs-node-gpu` (typed loosely: it is an optional peer). */
export type NodeGpuModule = Record<string, unknown> & { readonly version?: Record<string, string> };

/** The package this adapter drives. */
export const NODE_GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';

/** The tfjs backend that tfjs-node-gpu registers (TensorFlow's C library, with CUDA). */
export const NODE_GPU_BACKEND = 'tensorflow';

let loading: Promise<NodeGpuModule> | undefined;

/**
 * Loads `@tensorflow/tfjs-node-gpu` on first use (it registers the 'tensorflow' backend,
 * running on CUDA). It is an optional peer dependency: when it is not installed, or its
 * native binding cannot load, this rejects with an {@link EmosensError} `MISSING_DEPENDENCY`
 * that says so and how to install it.
 *
 * ```ts
 * const tfnode = await loadNodeGpu();
 * await tf.setBackend('tensorflow');
 * const unregister = registerNodeGpuKernels();
 * ```
 */
export function loadNodeGpu(): Promise<NodeGpuModule> {
  loading ??= importNodeGpu();
  return loading;
}

async function importNodeGpu(): Promise<NodeGpuModule> {
  try {
    // A variable specifier keeps TypeScript and bundlers from requiring the optional peer.
    const name: string = NODE_GPU_PACKAGE;
    return (await import(name)) as NodeGpuModule;
  } catch (e) {
    loading = undefined; // a later call may succeed once the package is installed
    const message = (e as Error).message ?? String(e);
    const missing = /Cannot find (module|package)|ERR_MODULE_NOT_FOUND/.test(message) && message.includes(NODE_GPU_PACKAGE);
    throw new EmosensError(
      'MISSING_DEPENDENCY',
      missing
        ? `${NODE_GPU_PACKAGE} is not installed; npm i ${NODE_GPU_PACKAGE}@4.22.0 (it needs CUDA and downloads libtensorflow when installed).`
        : `${NODE_GPU_PACKAGE} is installed but could not be loaded: ${message}`,
    );
  }
}

/** Whether tfjs-node-gpu can be loaded here, or why not (never throws). */
export async function nodeGpuStatus(): Promise<{ readonly available: true } | { readonly available: false; readonly reason: string }> {
  try {
    await loadNodeGpu();
    return { available: true };
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
}
