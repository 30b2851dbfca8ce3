import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';

// Tests run on the cpu backend; keep the Node hint about tfjs-node out of the output.
tf.env().set('IS_NODE', false);
await tf.setBackend('cpu');
