// The `emotion`, `calm` and `stepSize` signal names are declared by @emosens/emotion (a
// module augmentation of @emosens/core's `Signals`); this import makes them known here.
import type {} from '@emosens/emotion';
import {
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  emoAiry,
  emoAiryV3,
  emoCats,
  emoCatsV3,
  emoSens,
  emoSensV3,
  emoTion,
  emoVoid,
  lamb,
  lion,
  nadam,
  radam,
  rmsprop,
  sgd,
  type AdapterOptions,
  type TransformOptimizer,
} from '@emosens/tfjs';
import type * as tf from '@tensorflow/tfjs-core';

/** One optimizer the job can run: its display name, its learning rate for this job, and its factory. */
export interface OptimizerSpec {
  /** Display name for tables and the report. */
  readonly label: string;
  /** The learning rate this job gives it unless `--lr` sets one for all (see the README for why). */
  readonly lr: number;
  /** Builds it through the `@emosens/tfjs` factories, with `lr` and the adapter's options. */
  readonly make: (options: { lr: number } & AdapterOptions) => TransformOptimizer;
}

/**
 * Every optimizer `--optimizers` accepts, by name, in report order. Each is a ready-made
 * factory of `@emosens/tfjs` at its defaults except `lr` (and the variant's option): the
 * Emo family's v2.0, AdamW and Adam at their reference default 1e-3; the v3.9.1 generation
 * at its reference default 1.0 (it only scales emoPulse, the step size each of them derives
 * from the loss history every step); each torch.optim peer at the
 * rate, of a few tried (wasm, seed 42, 1000 steps of batch 64; see the README), that reached
 * about Adam's held-out accuracy: SGD needs a large rate, Lion (sign steps) a small one.
 */
export const OPTIMIZERS = {
  emosens: { label: 'EmoSens', lr: 1e-3, make: (o) => emoSens(o) },
  emoairy: { label: 'EmoAiry', lr: 1e-3, make: (o) => emoAiry(o) },
  emocats: { label: 'EmoCats', lr: 1e-3, make: (o) => emoCats(o) },
  'emosens-v3': { label: 'EmoSens v3', lr: 1, make: (o) => emoSensV3(o) },
  'emoairy-v3': { label: 'EmoAiry v3', lr: 1, make: (o) => emoAiryV3(o) },
  'emocats-v3': { label: 'EmoCats v3', lr: 1, make: (o) => emoCatsV3(o) },
  emotion: { label: 'EmoTion', lr: 1, make: (o) => emoTion(o) },
  emovoid: { label: 'EmoVoid', lr: 1, make: (o) => emoVoid(o) },
  adamw: { label: 'AdamW', lr: 1e-3, make: (o) => adamw(o) },
  adam: { label: 'Adam', lr: 1e-3, make: (o) => adam(o) },
  sgd: { label: 'SGD', lr: 0.2, make: (o) => sgd(o) },
  'sgd-momentum': { label: 'SGD momentum', lr: 0.03, make: (o) => sgd({ ...o, momentum: 0.9 }) },
  'sgd-nesterov': { label: 'SGD Nesterov', lr: 0.03, make: (o) => sgd({ ...o, momentum: 0.9, nesterov: true }) },
  rmsprop: { label: 'RMSprop', lr: 1e-3, make: (o) => rmsprop(o) },
  'rmsprop-centered': { label: 'RMSprop centered', lr: 1e-3, make: (o) => rmsprop({ ...o, centered: true }) },
  adagrad: { label: 'Adagrad', lr: 3e-2, make: (o) => adagrad(o) },
  adamax: { label: 'Adamax', lr: 5e-3, make: (o) => adamax(o) },
  nadam: { label: 'NAdam', lr: 2e-3, make: (o) => nadam(o) },
  radam: { label: 'RAdam', lr: 3e-3, make: (o) => radam(o) },
  lion: { label: 'Lion', lr: 3e-4, make: (o) => lion(o) },
  adafactor: { label: 'Adafactor', lr: 3e-2, make: (o) => adafactor(o) },
  lamb: { label: 'LAMB', lr: 1e-2, make: (o) => lamb(o) },
} as const satisfies Record<string, OptimizerSpec>;

export type OptimizerName = keyof typeof OPTIMIZERS;

/** Every name `--optimizers` accepts, in report order. */
export const OPTIMIZER_NAMES = Object.keys(OPTIMIZERS) as OptimizerName[];

/**
 * The optimizers the job compares when `--optimizers` is not given: the Emo family's v2.0
 * and v3.9.1 generations side by side, then AdamW and Adam.
 */
export const DEFAULT_OPTIMIZERS: readonly OptimizerName[] = [
  'emosens', 'emoairy', 'emocats',
  'emosens-v3', 'emoairy-v3', 'emocats-v3', 'emotion', 'emovoid',
  'adamw', 'adam',
];

/** Display names for tables and the report. */
export const OPTIMIZER_LABELS = Object.fromEntries(OPTIMIZER_NAMES.map((n) => [n, OPTIMIZERS[n].label])) as Record<OptimizerName, string>;

/** Which path ran an optimizer step: one fused kernel, or the transform's composed tfjs ops. */
export type StepPath = NonNullable<TransformOptimizer['path']>;

export interface OptimizerOptions {
  lr: number;
  /**
   * What a step does with a NaN or Infinity in the loss or gradients (see
   * `NonFinitePolicy` of @emosens/tfjs). `'throw'` stops the run with an error naming
   * it, at the cost of reading one boolean per step; `'skip'` reads nothing back, for
   * backends without synchronous reads (webgpu in Node).
   */
  onNonFinite: 'throw' | 'skip';
}

/** One optimizer, ready for the training loop: its step, its signals, its state size. */
export interface CreatedOptimizer {
  name: OptimizerName;
  optimizer: tf.Optimizer;
  /**
   * One step with these gradients (variable name -> gradient; the caller keeps and releases
   * them) and this step's loss as a number. The loop reads each loss back anyway, so it
   * hands it over as a number: the v3 optimizers need one (their scalar rule runs in float64
   * on the host), and webgpu in Node cannot read a tensor loss synchronously.
   */
  step(grads: tf.NamedTensorMap, loss: number): void;
  /** The emotion scalar of the last step, or null when the optimizer has none (Adam, AdamW). */
  readEmotion(): Promise<number | null>;
  /**
   * The step size the optimizer published for the last step (the v3 generation's emoPulse,
   * signal `stepSize`), or null when it publishes none (v2, Adam, AdamW and the others,
   * whose step size is their constant `lr`, scaled inside the chain).
   */
  readStepSize(): Promise<number | null>;
  /** Whether the calm (should-stop) signal is on after the last step; null when there is none. */
  readCalm(): Promise<boolean | null>;
  /** Which path ran the last step; undefined before the first step or when the optimizer does not say. */
  readPath(): StepPath | undefined;
  /** Bytes held by the optimizer's state (its `getWeights()`). */
  stateBytes(): Promise<number>;
  /** Releases the optimizer and its state. */
  dispose(): void;
}

/**
 * Creates one of the compared optimizers through the `@emosens/tfjs` factories, so all
 * of them run through the same adapter (`TransformOptimizer`) and differ only in their
 * gradient transformation. `step` hands each step's loss to the chain, as a number.
 */
export function createOptimizer(name: OptimizerName, options: OptimizerOptions): CreatedOptimizer {
  const optimizer = (OPTIMIZERS[name] as OptimizerSpec).make({ lr: options.lr, onNonFinite: options.onNonFinite });
  // Read the signal tensors asynchronously (`readSignal` reads synchronously, which
  // webgpu in Node cannot do).
  const read = async (signal: 'emotion' | 'calm' | 'stepSize'): Promise<number | null> => {
    const value = optimizer.signals[signal];
    return value === undefined ? null : ((await value.data())[0] ?? null);
  };
  return wrapOptimizer(name, optimizer, {
    step: (grads, loss) => {
      optimizer.setLoss(loss);
      optimizer.applyGradients(grads);
    },
    readEmotion: () => read('emotion'),
    readCalm: () => read('calm'),
    readStepSize: () => read('stepSize'),
    readPath: () => optimizer.path,
  });
}

/** The step and the raw signal readers {@link wrapOptimizer} wraps (null: the optimizer has no such signal). */
export interface OptimizerHooks {
  step(grads: tf.NamedTensorMap, loss: number): void;
  readEmotion(): Promise<number | null>;
  /** Calm as the optimizer reports it, 1 or 0. */
  readCalm(): Promise<number | null>;
  readStepSize(): Promise<number | null>;
  /** Which path ran the last step. */
  readPath(): StepPath | undefined;
}

/**
 * Wraps a tfjs optimizer with the accessors the training loop reads. `readEmotion`,
 * `readStepSize` and `readCalm` return the raw signals (null when the optimizer has none);
 * calm is reported by the optimizer as 1/0. `readPath` says which path ran the last step.
 */
export function wrapOptimizer(name: OptimizerName, optimizer: tf.Optimizer, hooks: OptimizerHooks): CreatedOptimizer {
  const { step, readEmotion, readCalm, readStepSize, readPath } = hooks;
  // Tensors handed out by getWeights(). Some optimizers return fresh tensors beside
  // their live state (tfjs's own make a new iteration-count scalar on each call), and
  // some may return their live state itself; releasing what is left of them after the
  // optimizer is gone covers both without disposing live state early.
  const handedOut: tf.Tensor[] = [];
  return {
    name,
    optimizer,
    step,
    readEmotion,
    readStepSize,
    readPath,
    readCalm: async () => {
      const value = await readCalm();
      return value === null ? null : value !== 0;
    },
    stateBytes: async () => {
      const weights = await optimizer.getWeights();
      let bytes = 0;
      for (const { tensor } of weights) {
        handedOut.push(tensor);
        bytes += tensor.size * (BYTES_PER_ELEMENT[tensor.dtype] ?? 4);
      }
      return bytes;
    },
    dispose: () => {
      optimizer.dispose();
      for (const tensor of handedOut) if (!tensor.isDisposed) tensor.dispose();
      handedOut.length = 0;
    },
  };
}

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };
