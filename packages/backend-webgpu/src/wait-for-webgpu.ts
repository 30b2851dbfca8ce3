import { backend, getBackend } from '@tensorflow/tfjs-core';

/**
 * Submits the webgpu backend's pending commands and resolves when the device has run them
 * (nothing is read back). For timing steps: `step(); await waitForWebGpu()`.
 */
export async function waitForWebGpu(): Promise<void> {
  const b = backend() as unknown as Partial<{
    device: GPUDevice;
    commandEncoder: GPUCommandEncoder | null;
    endComputePassEncoder(): void;
    submitQueue(): void;
  }>;
  if (!b.device) throw new Error(`waitForWebGpu: the active backend is '${getBackend()}', not 'webgpu'.`);
  if (b.commandEncoder) {
    b.endComputePassEncoder?.();
    b.submitQueue?.();
  }
  await b.device.queue.onSubmittedWorkDone();
}
