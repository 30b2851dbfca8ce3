import * as tf from '@tensorflow/tfjs-core';
import { describeConformance } from '@emosens/conformance';
import { registerCpuKernels, registerWasmKernels } from '../src/index.js';

describeConformance({ name: "typed-array target on cpu ('fast')", backend: 'cpu', register: () => registerCpuKernels(), inPlace: true });

// 'exact' rounds every operation as tfjs's cpu kernels store it: fused == composed to the bit.
describeConformance({
  name: "typed-array target on cpu ('exact')",
  backend: 'cpu',
  register: () => registerCpuKernels({ precision: 'exact' }),
  inPlace: true,
  tolerance: { rtol: 0, atol: 0 },
});

describeConformance({
  name: 'typed-array target on wasm',
  backend: 'wasm',
  async prepare() {
    await import('@tensorflow/tfjs-backend-wasm');
    // Node cannot start tfjs's blob-URL workers: the single-threaded module.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    return (await tf.setBackend('wasm')) ? undefined : "tf.setBackend('wasm') failed";
  },
  register: () => registerWasmKernels(),
  // state in place; parameters get fresh storage each step (tfjs-wasm caches packed weights by storage)
  inPlace: false,
});
