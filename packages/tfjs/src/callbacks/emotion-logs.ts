import { Callback } from '@tensorflow/tfjs-layers';
import { check } from '@emosens/core';
import type { TransformOptimizer } from '../transform-optimizer.js';
import { assertCompiledWith, assertTransformOptimizer, missingSignal, publishesSignal, readSignalsAsync, type FitLogs } from './signals.js';

/** Options of {@link emotionLogs}. */
export interface EmotionLogsOptions {
  /** Log every this many batches (counted from the start of the fit: batches 0, every, 2 every, ...). Integer >= 1. Default 1. */
  readonly every?: number;
}

/** The signals written into the logs, under their own names. `stepSize` is published by the v3 optimizers only. */
const LOGGED = ['emotion', 'stepSize', 'calm'] as const;

/**
 * The tfjs-layers callback made by {@link emotionLogs}: writes the optimizer's `emotion`,
 * `stepSize` and `calm` signals into fit's batch and epoch logs.
 */
export class EmotionLogs extends Callback {
  readonly optimizer: TransformOptimizer;
  readonly every: number;
  /** Batches seen since train begin. */
  private batches = 0;
  /** The values last read and the optimizer step they belong to. */
  private last: { readonly step: number; readonly values: Readonly<Record<string, number>> } | undefined;

  constructor(optimizer: TransformOptimizer, options: EmotionLogsOptions = {}) {
    super();
    assertTransformOptimizer(optimizer, 'emotionLogs');
    this.optimizer = optimizer;
    this.every = check.integer('emotionLogs', 'every', options.every ?? 1, 1);
  }

  override async onTrainBegin(): Promise<void> {
    const model = assertCompiledWith(this.model, this.optimizer, 'emotionLogs');
    if (publishesSignal(this.optimizer, model, 'emotion') === false) throw missingSignal('emotionLogs', this.optimizer, 'emotion');
    this.batches = 0;
    this.last = undefined;
  }

  override async onBatchEnd(_batch: number, logs?: FitLogs): Promise<void> {
    const index = this.batches++;
    if (logs == null || index % this.every !== 0) return;
    Object.assign(logs, await this.read());
  }

  /** The epoch logs get the values after the epoch's last step (read again only if that batch was not logged). */
  override async onEpochEnd(_epoch: number, logs?: FitLogs): Promise<void> {
    if (logs == null) return;
    Object.assign(logs, this.last?.step === this.optimizer.iterations ? this.last.values : await this.read());
  }

  /** The last step's signals: one asynchronous read of up to three scalars packed on the device. */
  private async read(): Promise<Readonly<Record<string, number>>> {
    const step = this.optimizer.iterations;
    const values = await readSignalsAsync(this.optimizer, LOGGED);
    // No signals at all: no step has published any yet (a first step skipped by 'skipExact'); nothing to log.
    if (values['emotion'] === undefined && Object.keys(this.optimizer.signals).length > 0) {
      throw missingSignal('emotionLogs', this.optimizer, 'emotion');
    }
    this.last = { step, values };
    return values;
  }
}

/**
 * A tfjs-layers callback that writes the optimizer's emotion scalar into fit's logs:
 * `logs.emotion` (float32, in (-1, 1)), `logs.calm` (1 or 0) and, for optimizers that
 * publish it (the v3 ones), `logs.stepSize`, after every `every`-th batch (default every
 * batch) and, with the values after the epoch's last step, at every epoch end, so they
 * appear in `history.history` (tfjs's History records epoch logs only) and in the
 * callbacks that come after this one in the list.
 *
 * Each logged batch costs one asynchronous read of one small tensor (the signals packed
 * on the device); an epoch end whose last batch was not logged costs one more.
 *
 * At train begin it throws `EmosensError` (`MISSING_SIGNAL`, naming the optimizer) when
 * the optimizer publishes no `emotion` signal, and `INVALID_OPTION` when the model is
 * compiled with another optimizer.
 *
 * ```ts
 * import { emoSens } from '@emosens/tfjs';
 * import { emotionLogs } from '@emosens/tfjs/callbacks';
 *
 * const optimizer = emoSens({ lr: 1e-2 });
 * model.compile({ optimizer, loss: 'meanSquaredError' });
 * const history = await model.fit(xs, ys, { epochs: 20, callbacks: [emotionLogs(optimizer)] });
 * console.log(history.history.emotion);   // the emotion scalar at the end of each epoch
 * ```
 */
export function emotionLogs(optimizer: TransformOptimizer, options: EmotionLogsOptions = {}): EmotionLogs {
  return new EmotionLogs(optimizer, options);
}
