import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

// Tests run on the cpu backend; keep the Node hint about tfjs-node out of the output.
tf.env().set('IS_NODE', false);
await tf.setBackend('cpu');
