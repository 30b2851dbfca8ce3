// The `emotion` and `calm` signal names are declared by @emosens/emotion (a module
// augmentation of @emosens/core's `Signals`); this import makes them known here.
import type {} from '@emosens/emotion';
import { adam, adamw, emoAiry, emoCats, emoSens, type AdapterOptions, type TransformOptimizer } from '@emosens/tfjs';
import type * as tf from '@tensorflow/tfjs-core';

/** The optimizers this job compares, in report order. */
export const OPTIMIZER_NAMES = ['emosens', 'emoairy', 'emocats', 'adamw', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

/** Display names for tables and the report. */
export const OPTIMIZER_LABELS: Record<OptimizerName, string> = {
  emosens: 'EmoSens',
  emoairy: 'EmoAiry',
  emocats: 'EmoCats',
  adamw: 'AdamW',
  adam: 'Adam',
};

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

/** One optimizer, ready to drive `optimizer.minimize(() => loss)`. */
export interface CreatedOptimizer {
  name: OptimizerName;
  optimizer: tf.Optimizer;
  /** The emotion scalar of the last step, or null when the optimizer has none (Adam, AdamW). */
  readEmotion(): Promise<number | null>;
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
 * five run through the same adapter (`TransformOptimizer`) and differ only in their
 * gradient transformation. `minimize` hands each step's loss to the chain.
 */
export function createOptimizer(name: OptimizerName, options: OptimizerOptions): CreatedOptimizer {
  const factories: Record<OptimizerName, (o: OptimizerOptions & AdapterOptions) => TransformOptimizer> = {
    emosens: emoSens,
    emoairy: emoAiry,
    emocats: emoCats,
    adamw,
    adam,
  };
  const optimizer = factories[name]({ lr: options.lr, onNonFinite: options.onNonFinite });
  // Read the signal tensors asynchronously (`readSignal` reads synchronously, which
  // webgpu in Node cannot do).
  const read = async (signal: 'emotion' | 'calm'): Promise<number | null> => {
    const value = optimizer.signals[signal];
    return value === undefined ? null : ((await value.data())[0] ?? null);
  };
  return wrapOptimizer(name, optimizer, () => read('emotion'), () => read('calm'), () => optimizer.path);
}

/**
 * Wraps a tfjs optimizer with the accessors the training loop reads. `readEmotion`
 * and `readCalm` return the raw signals (null when the optimizer has none); calm is
 * reported by the optimizer as 1/0. `readPath` says which path ran the last step.
 */
export function wrapOptimizer(
  name: OptimizerName,
  optimizer: tf.Optimizer,
  readEmotion: () => Promise<number | null>,
  readCalm: () => Promise<number | null>,
  readPath: () => StepPath | undefined,
): CreatedOptimizer {
  // Tensors handed out by getWeights(). Some optimizers return fresh tensors beside
  // their live state (tfjs's own make a new iteration-count scalar on each call), and
  // some may return their live state itself; releasing what is left of them after the
  // optimizer is gone covers both without disposing live state early.
  const handedOut: tf.Tensor[] = [];
  return {
    name,
    optimizer,
    readEmotion,
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
