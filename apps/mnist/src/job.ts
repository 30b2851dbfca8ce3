import * as tf from '@tensorflow/tfjs-core';
import { learningRateOf, type JobOptions } from './args.js';
import { setupBackend, type ActiveBackend } from './backend.js';
import { loadMnist, splitDataset } from './data.js';
import { createInitialWeights, HIDDEN_UNITS } from './model.js';
import { OPTIMIZER_LABELS, type CreatedOptimizer, type OptimizerName, type OptimizerOptions } from './optimizers.js';
import { createProgressBar, type ProgressStream } from './progress.js';
import { describePath, renderTable, writeOutputs, type JobResults } from './report.js';
import { FINAL_LOSS_WINDOW, trainRun, type RunResult } from './train.js';

/** Mini-batch size of every run. */
export const BATCH_SIZE = 64;
/** Images held out of training for the accuracy measurement (of 10,000). */
export const HELD_OUT_COUNT = 2000;

export interface JobIo {
  /** Receives the results table and the output paths. */
  stdout: ProgressStream;
  /** Receives progress bars and errors. */
  stderr: ProgressStream;
  /** Overrides the optimizer factory (tests); defaults to `@emosens/tfjs`. */
  makeOptimizer?: (name: OptimizerName, options: OptimizerOptions) => CreatedOptimizer;
}

/**
 * Runs the whole job: selects the backend, splits the data, trains each optimizer
 * from the same initial weights, prints the table and writes results.json and
 * report.html. Returns the process exit code (2 when the backend is unavailable).
 */
export async function runJob(options: JobOptions, io: JobIo): Promise<number> {
  const backend = await setupBackend(options.backend);
  if (!backend.ok) {
    io.stderr.write(`error: ${backend.message}\n`);
    return 2;
  }
  try {
    return await trainAll(options, io, backend);
  } finally {
    backend.release();
  }
}

async function trainAll(options: JobOptions, io: JobIo, backend: ActiveBackend): Promise<number> {
  const split = splitDataset(loadMnist(), HELD_OUT_COUNT, options.seed);
  const initialWeights = createInitialWeights(options.seed);
  io.stderr.write(
    `MNIST ${split.train.count} train / ${split.heldOut.count} held out, ${options.steps} steps of batch ${BATCH_SIZE}, ` +
      `lr ${options.lr ?? 'per optimizer'}, seed ${options.seed}, backend ${backend.name} (${backend.detail}), ` +
      `fused kernels: ${backend.fusedKernels ?? 'none (every optimizer runs composed)'}\n`,
  );
  const runs: RunResult[] = [];
  for (const name of options.optimizers) {
    const before = tf.memory().numTensors;
    let bar: ReturnType<typeof createProgressBar> | undefined;
    const result = await trainRun({
      optimizer: name,
      steps: options.steps,
      batchSize: BATCH_SIZE,
      seed: options.seed,
      lr: learningRateOf(name, options.lr),
      onNonFinite: backend.syncReads ? 'throw' : 'skip',
      train: split.train,
      heldOut: split.heldOut,
      initialWeights,
      onStep: (p) => {
        bar ??= createProgressBar(OPTIMIZER_LABELS[name], p.total, io.stderr);
        bar.update(p);
      },
      ...(io.makeOptimizer === undefined ? {} : { makeOptimizer: io.makeOptimizer }),
    });
    bar?.finish(
      `final loss ${result.finalLoss.toFixed(4)}, held-out accuracy ${result.heldOutAccuracy.toFixed(4)}, ` +
        `${result.msPerStep.toFixed(1)} ms/step, ${describePath(result)} on ${result.backend}`,
    );
    const leaked = tf.memory().numTensors - before;
    if (leaked !== 0) io.stderr.write(`warning: ${result.label} left ${leaked} tensors behind\n`);
    runs.push(result);
  }
  const results: JobResults = {
    job: 'mnist-mlp',
    createdAt: new Date().toISOString(),
    options: {
      steps: options.steps,
      seed: options.seed,
      backend: backend.name,
      backendDetail: backend.detail,
      fusedKernels: backend.fusedKernels,
      batchSize: BATCH_SIZE,
      lr: options.lr,
      model: `784-${HIDDEN_UNITS}-10 MLP, relu, softmax cross-entropy`,
      trainCount: split.train.count,
      heldOutCount: split.heldOut.count,
      finalLossWindow: FINAL_LOSS_WINDOW,
      optimizers: [...options.optimizers],
      tfjsVersion: tf.version_core,
      node: process.version,
    },
    runs,
  };
  io.stdout.write(`\n${renderTable(runs)}\n\n`);
  const written = await writeOutputs(options.out, results);
  io.stdout.write(`wrote ${written.json}\nwrote ${written.html}\n`);
  return 0;
}
