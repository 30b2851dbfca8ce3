import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { disposeIris, loadIris } from './iris.js';
import { makeOptimizer, trainSoftmaxRegression } from './train.js';

const STEPS = 200;
const LOG_EVERY = 20;

async function main(): Promise<void> {
  // The example runs on the plain cpu backend; skip tfjs's hint about tfjs-node.
  tf.env().set('IS_NODE', false);
  await tf.setBackend('cpu');

  const data = loadIris();
  const samples = data.features.shape[0];
  console.log(`Softmax regression on iris: ${samples} flowers, ${data.classNames.join(' / ')}`);
  console.log(`Optimizer: momentum(0.9) then learning rate 0.05, ${STEPS} full-batch steps\n`);
  console.log('  step   loss');
  const started = performance.now();
  const result = trainSoftmaxRegression(data, makeOptimizer(), {
    steps: STEPS,
    onStep: (step, loss) => {
      if (step === 1 || step % LOG_EVERY === 0) console.log(`  ${String(step).padStart(4)}   ${loss.toFixed(4)}`);
    },
  });
  const seconds = (performance.now() - started) / 1000;
  disposeIris(data);

  const first = result.losses[0]!;
  const last = result.losses[result.losses.length - 1]!;
  console.log(`\nLoss ${first.toFixed(4)} -> ${last.toFixed(4)} in ${seconds.toFixed(2)} s`);
  console.log(`Training accuracy: ${(result.accuracy * 100).toFixed(1)}% (${Math.round(result.accuracy * samples)}/${samples})`);
}

await main();
