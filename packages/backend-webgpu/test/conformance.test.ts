import { describeConformance } from '@emosens/conformance';
import { registerWebGpuKernels } from '../src/index.js';
import { setupNodeWebGpu } from '../src/node.js';

// The one suite every fusion target runs (golden both paths, fused == composed for the
// reference optimizers and random chains on rank 0-4, [1] and empty parameters, in place
// with no growth, no readback, non-finite steps skipped bit for bit, checkpoints).
describeConformance({
  name: 'wgsl target on webgpu',
  backend: 'webgpu',
  async prepare() {
    const setup = await setupNodeWebGpu({ setBackend: false });
    return setup.ok ? undefined : setup.reason;
  },
  register: () => registerWebGpuKernels(),
  inPlace: true,
  // Every way tfjs-backend-webgpu reads a tensor back to the host.
  readMethods: ['read', 'readSync', 'getBufferData', 'readToGPU'],
});
