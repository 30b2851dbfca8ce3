import { Callback } from '@tensorflow/tfjs-layers';
import { EmosensError, check as validate } from '@emosens/core';
import type { TransformOptimizer } from '../transform-optimizer.js';
import { assertCompiledWith, assertTransformOptimizer, missingSignal, publishesSignal, type FitLogs } from './signals.js';

/** Options of {@link stopOnCalm}. */
export interface StopOnCalmOptions {
  /** How many consecutive checks must find `calm` on before training stops. Integer >= 1. Default 1. */
  readonly patience?: number;
  /** When to check: after every batch (`'batch'`, default) or after every epoch (`'epoch'`). */
  readonly check?: 'batch' | 'epoch';
}

/** Where {@link StopOnCalm} stopped a fit. */
export interface CalmStop {
  /** The epoch (as fit numbers it, from `initialEpoch`) in which training stopped. */
  readonly epoch: number;
  /** The batch within that epoch after which training stopped; `undefined` when checking per epoch. */
  readonly batch: number | undefined;
  /** The optimizer's step count (`optimizer.iterations`) when it stopped. */
  readonly step: number;
}

const CHECKS = ['batch', 'epoch'] as const;

/**
 * The tfjs-layers callback made by {@link stopOnCalm}: stops `model.fit` when the
 * optimizer's `calm` signal has been on for `patience` consecutive checks.
 */
export class StopOnCalm extends Callback {
  readonly optimizer: TransformOptimizer;
  readonly patience: number;
  readonly check: 'batch' | 'epoch';
  /** Consecutive checks that found `calm` on, since the last one that did not. */
  private streak = 0;
  private currentEpoch = 0;
  private stop: CalmStop | undefined;

  constructor(optimizer: TransformOptimizer, options: StopOnCalmOptions = {}) {
    super();
    assertTransformOptimizer(optimizer, 'stopOnCalm');
    this.optimizer = optimizer;
    this.patience = validate.integer('stopOnCalm', 'patience', options.patience ?? 1, 1);
    const when = options.check ?? 'batch';
    if (!CHECKS.includes(when)) {
      throw new EmosensError('INVALID_OPTION', `stopOnCalm: option 'check' must be 'batch' or 'epoch', got ${String(when)}.`);
    }
    this.check = when;
  }

  /** Where the last fit was stopped, or `undefined` if calm never held for `patience` checks. */
  get stopped(): CalmStop | undefined {
    return this.stop;
  }

  override async onTrainBegin(): Promise<void> {
    const model = assertCompiledWith(this.model, this.optimizer, 'stopOnCalm');
    if (publishesSignal(this.optimizer, model, 'calm') === false) throw missingSignal('stopOnCalm', this.optimizer, 'calm');
    this.streak = 0;
    this.stop = undefined;
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.currentEpoch = epoch;
  }

  override async onBatchEnd(batch: number, _logs?: FitLogs): Promise<void> {
    if (this.check === 'batch') await this.checkCalm(batch);
  }

  override async onEpochEnd(_epoch: number, _logs?: FitLogs): Promise<void> {
    if (this.check === 'epoch') await this.checkCalm(undefined);
  }

  /** One check: one scalar read of `calm` (asynchronous, so it works on every backend). */
  private async checkCalm(batch: number | undefined): Promise<void> {
    if (this.stop !== undefined) return;
    const step = this.optimizer.iterations;
    const value = await this.optimizer.readSignalAsync('calm');
    // No signals at all: no step has published any yet (a first step skipped by 'skipExact').
    if (value === undefined && Object.keys(this.optimizer.signals).length > 0) throw missingSignal('stopOnCalm', this.optimizer, 'calm');
    const calm = value === 1;
    this.streak = calm ? this.streak + 1 : 0;
    if (this.streak >= this.patience) {
      this.stop = { epoch: this.currentEpoch, batch, step };
      this.model.stopTraining = true;
    }
  }
}

/**
 * A tfjs-layers callback that stops `model.fit` once the optimizer's `calm` signal (the
 * Emo optimizers' should-stop signal, `should_stop` in the reference) has been on for
 * `patience` consecutive checks, after a batch (`check: 'batch'`, default) or an epoch
 * (`check: 'epoch'`).
 *
 * ```
 * streak = calm ? streak + 1 : 0        at each check
 * stop fit when streak >= patience
 * ```
 *
 * Options: `patience` (integer >= 1, default 1), `check` (`'batch'` | `'epoch'`, default
 * `'batch'`). Each check reads one scalar back from the device (`readSignalAsync`, which
 * works on every backend, webgpu included), so with `'batch'` a fit waits for every step
 * to finish before the next batch. `callback.stopped` says where it stopped.
 *
 * At train begin it throws `EmosensError` (`MISSING_SIGNAL`, naming the optimizer) when
 * the optimizer publishes no `calm` signal (adam, sgd, ...), and `INVALID_OPTION` when the
 * model is compiled with another optimizer. Works with every optimizer that publishes
 * `calm`: emoSens, emoAiry, emoCats and any chain with `trackEmotion()`.
 *
 * ```ts
 * import { emoSens } from '@emosens/tfjs';
 * import { stopOnCalm } from '@emosens/tfjs/callbacks';
 *
 * const optimizer = emoSens({ lr: 1e-2 });
 * model.compile({ optimizer, loss: 'meanSquaredError' });
 * await model.fit(xs, ys, { epochs: 100, callbacks: [stopOnCalm(optimizer, { patience: 3 })] });
 * ```
 */
export function stopOnCalm(optimizer: TransformOptimizer, options: StopOnCalmOptions = {}): StopOnCalm {
  return new StopOnCalm(optimizer, options);
}
