import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { describeConformance } from '@emosens/conformance';
import { registerNodeGpuKernels } from '../src/index.js';

// The project's one conformance suite, run on the tf-ops target where it can run here: on
// cpu and wasm (tfjs-node-gpu cannot be installed on these machines). The target makes new
// tensors for what it writes (tf ops cannot write in place), so `inPlace` is false.
describeConformance({ name: 'tf-ops target on cpu', backend: 'cpu', register: () => registerNodeGpuKernels({ backend: 'cpu' }), inPlace: false });

describeConformance({
  name: 'tf-ops target on wasm',
  backend: 'wasm',
  async prepare() {
    // Node cannot start tfjs's blob-URL workers: the single-threaded module.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    return (await tf.setBackend('wasm')) ? undefined : "tf.setBackend('wasm') failed";
  },
  register: () => registerNodeGpuKernels({ backend: 'wasm' }),
  inPlace: false,
  // tfjs-wasm's Slice kernel (the emotion window's shift, on the composed path too) takes
  // its input through `readSync`, a view of the module's heap where wasm kernels compute:
  // not a readback. test/tf-ops-target.test.ts counts wasm reads outside kernels instead.
  readMethods: ['read'],
});
