import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

// Keep the Node hint about tfjs-node out of the output; tests pick their backend.
tf.env().set('IS_NODE', false);
await tf.setBackend('cpu');
