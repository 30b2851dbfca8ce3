import { createBatchOrder, type Dataset } from './data.js';
import { accuracy, createMlp, crossEntropy, makeBatch, type InitialWeights } from './model.js';
import * as tf from '@tensorflow/tfjs-core';
import { createOptimizer, OPTIMIZER_LABELS, type CreatedOptimizer, type OptimizerName, type OptimizerOptions } from './optimizers.js';

/** Steps averaged for the reported final training loss. */
export const FINAL_LOSS_WINDOW = 50;

export interface StepProgress {
  step: number;
  total: number;
  loss: number;
  /** Mean milliseconds per step so far. */
  msPerStep: number;
}

export interface RunConfig {
  optimizer: OptimizerName;
  steps: number;
  batchSize: number;
  /** Seeds the batch order; the same for every optimizer. */
  seed: number;
  lr: number;
  /** The optimizers' non-finite policy (see `OptimizerOptions`). */
  onNonFinite: OptimizerOptions['onNonFinite'];
  train: Dataset;
  heldOut: Dataset;
  initialWeights: InitialWeights;
  onStep?: (progress: StepProgress) => void;
  /** Supplies the optimizer; defaults to the `@emosens/tfjs` factories. */
  makeOptimizer?: (name: OptimizerName, options: OptimizerOptions) => CreatedOptimizer;
}

/**
 * The path a run's steps took: `'fused'` when every step ran as one fused kernel,
 * `'composed'` when every step ran the transform's tfjs ops, `'mixed'` otherwise.
 */
export type RunPath = 'fused' | 'composed' | 'mixed';

/** The outcome of training with one optimizer. */
export interface RunResult {
  optimizer: OptimizerName;
  label: string;
  /** The learning rate the run trained with. */
  lr: number;
  /** The tfjs backend the run trained on. */
  backend: string;
  /** The path its steps took. */
  path: RunPath;
  /** How many of its steps ran fused. */
  fusedSteps: number;
  /** Mean training loss over the last `FINAL_LOSS_WINDOW` steps. */
  finalLoss: number;
  heldOutAccuracy: number;
  /** Mean wall time of one optimizer step (forward, backward, update, loss read back), after the warm-up steps. */
  msPerStep: number;
  stateBytes: number;
  /** 1-based step after which the calm signal first read on; null when it never did. */
  calmStep: number | null;
  /** Training loss of each step's batch, before that step's update. */
  losses: number[];
  /**
   * Emotion scalar after each step; null for optimizers without one. Its sign differs by
   * generation: v2's is negative while the loss falls, v3's positive.
   */
  emotion: (number | null)[];
  /**
   * Step size each step took, as the optimizer published it (signal `stepSize`: the v3
   * generation's emoPulse); null for optimizers that publish none (v2, Adam, AdamW and the
   * others step with their constant `lr`, scaled inside the chain).
   */
  stepSize: (number | null)[];
}

/**
 * Trains a fresh MLP, initialised from `initialWeights`, for `steps` mini-batches
 * with one optimizer, then measures held-out accuracy. Releases every tensor it
 * makes (model, optimizer state, batches) before returning.
 */
export async function trainRun(config: RunConfig): Promise<RunResult> {
  const { steps, batchSize, train } = config;
  const backend = tf.getBackend();
  const make = config.makeOptimizer ?? createOptimizer;
  const created = make(config.optimizer, { lr: config.lr, onNonFinite: config.onNonFinite });
  const model = createMlp(config.initialWeights, `mnist-${config.optimizer}`);
  const nextBatch = createBatchOrder(train.count, batchSize, config.seed);
  const losses: number[] = [];
  const emotion: (number | null)[] = [];
  const stepSize: (number | null)[] = [];
  let calmStep: number | null = null;
  let fusedSteps = 0;
  let elapsed = 0;
  // ms/step leaves out the first steps, which pay one-time costs (JIT compilation of the
  // fused step and of tfjs's kernels): otherwise whichever optimizer runs first looks slower.
  const warmup = Math.min(WARMUP_STEPS, Math.floor(steps / 10));
  try {
    for (let step = 1; step <= steps; step++) {
      const { x, y } = makeBatch(train, nextBatch());
      const start = performance.now();
      // What `minimize` does, with the loss read back before the update (asynchronously:
      // webgpu in Node has no synchronous reads) and handed to the optimizer as a number.
      const { value, grads } = tf.variableGrads(() => crossEntropy(model, x, y), model.variables);
      const loss = (await value.data())[0] ?? Number.NaN;
      value.dispose();
      x.dispose();
      y.dispose();
      if (!Number.isFinite(loss)) {
        tf.dispose(grads);
        throw new Error(`${OPTIMIZER_LABELS[config.optimizer]}: the training loss is ${loss} at step ${step}`);
      }
      try {
        created.step(grads, loss);
      } finally {
        tf.dispose(grads);
      }
      if (step > warmup) elapsed += performance.now() - start;
      if (created.readPath() === 'fused') fusedSteps++;
      losses.push(loss);
      // Signals are read outside the timed part of the step, asynchronously: one scalar each.
      emotion.push(await created.readEmotion());
      stepSize.push(await created.readStepSize());
      if (calmStep === null && (await created.readCalm()) === true) calmStep = step;
      config.onStep?.({ step, total: steps, loss, msPerStep: step > warmup ? elapsed / (step - warmup) : 0 });
    }
    const heldOutAccuracy = await accuracy(model, config.heldOut);
    const stateBytes = await created.stateBytes();
    return {
      optimizer: config.optimizer,
      label: OPTIMIZER_LABELS[config.optimizer],
      lr: config.lr,
      backend,
      path: fusedSteps === steps ? 'fused' : fusedSteps === 0 ? 'composed' : 'mixed',
      fusedSteps,
      finalLoss: mean(losses.slice(-FINAL_LOSS_WINDOW)),
      heldOutAccuracy,
      msPerStep: elapsed / (steps - warmup),
      stateBytes,
      calmStep,
      losses,
      emotion,
      stepSize,
    };
  } finally {
    created.dispose();
    model.dispose();
  }
}

/** Steps left out of ms/step at the start of a run (at most a tenth of the run). */
export const WARMUP_STEPS = 20;

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

