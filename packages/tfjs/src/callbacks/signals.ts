import * as tf from '@tensorflow/tfjs-core';
import { EmosensError, createStepContext, isTensor, type SignalName } from '@emosens/core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { TransformOptimizer } from '../transform-optimizer.js';

/** fit's logs as tfjs-layers hands them to a `Callback` (its `UnresolvedLogs`, which its index does not export). */
export type FitLogs = { [key: string]: number | tf.Scalar };

/** A name for error messages: the registered factory (`emoSens`, `adam`, ...) or the transform's name. */
export function describeOptimizer(optimizer: TransformOptimizer): string {
  const factory = optimizer.getConfig()['factory'];
  return typeof factory === 'string' ? `'${factory}'` : `with transform '${optimizer.transform.name}'`;
}

/** Checks the callback's argument when the callback is made. */
export function assertTransformOptimizer(optimizer: unknown, owner: string): asserts optimizer is TransformOptimizer {
  // Not `instanceof`: tf.Optimizer defines Symbol.hasInstance as "has minimize, computeGradients
  // and applyGradients", so every tfjs optimizer is an `instanceof TransformOptimizer`.
  const candidate = optimizer as Partial<TransformOptimizer> | null;
  const isOurs =
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.readSignalAsync === 'function' &&
    typeof candidate.transform?.update === 'function' &&
    typeof candidate.signals === 'object';
  if (!isOurs) {
    throw new EmosensError(
      'INVALID_OPTION',
      `${owner}: the optimizer must be an @emosens/tfjs optimizer (emoSens(), createOptimizer(...), new TransformOptimizer(tx)), ` +
        `got ${optimizer === null ? 'null' : typeof optimizer === 'object' ? (optimizer.constructor?.name ?? 'an object') : typeof optimizer}.`,
    );
  }
}

/** Checks, at train begin, that the model being fit is compiled with the optimizer the callback watches. */
export function assertCompiledWith(model: tfl.LayersModel | null, optimizer: TransformOptimizer, owner: string): tfl.LayersModel {
  if (model == null) {
    throw new EmosensError('INVALID_OPTION', `${owner}: no model; pass the callback to model.fit(x, y, { callbacks: [...] }).`);
  }
  if ((model.optimizer as unknown) !== optimizer) {
    throw new EmosensError(
      'INVALID_OPTION',
      `${owner}: the model is compiled with another optimizer than the one this callback watches (${describeOptimizer(optimizer)}); ` +
        'pass the optimizer given to model.compile.',
    );
  }
  return model;
}

/**
 * Whether the optimizer publishes signal `name` each step. After a step this is what the
 * last step published; before the first step, the transform runs once on zero gradients
 * of the model's trainable weights with a loss of 1 (inside `tf.tidy`, nothing read back,
 * nothing kept, the optimizer untouched) to see what it publishes. `undefined` when that
 * run throws: the callbacks then find out from the first step's signals.
 */
export function publishesSignal(optimizer: TransformOptimizer, model: tfl.LayersModel, name: SignalName): boolean | undefined {
  if (Object.keys(optimizer.signals).length > 0) return isTensor((optimizer.signals as Record<string, unknown>)[name]);
  const params: Record<string, tf.Variable> = {};
  for (const weight of model.trainableWeights) {
    const variable = weight.read() as tf.Variable;
    params[variable.name] = variable;
  }
  if (Object.keys(params).length === 0) return false;
  try {
    return tf.tidy(() => {
      const context = createStepContext(1);
      const grads = Object.fromEntries(Object.entries(params).map(([key, p]) => [key, tf.zerosLike(p)]));
      optimizer.transform.update(grads, optimizer.transform.init(params), params, context);
      return context.has(name);
    });
  } catch {
    return undefined;
  }
}

/** The error for an optimizer that does not publish a signal a callback needs. */
export function missingSignal(owner: string, optimizer: TransformOptimizer, name: string): EmosensError {
  return new EmosensError(
    'MISSING_SIGNAL',
    `${owner}: the optimizer ${describeOptimizer(optimizer)} publishes no '${name}' signal, so ${owner} has nothing to watch. ` +
      `Use an optimizer whose chain tracks the emotion (emoSens, emoAiry, emoCats, or a chain with trackEmotion()).`,
  );
}

/**
 * The first value of each of the last step's signals among `names` that the optimizer
 * published (a bool signal gives 1 or 0), read back with one asynchronous read (`data()`,
 * which every backend has, webgpu in Node included): the values are packed into one
 * float32 tensor on the device first. Signals the last step did not publish are left out.
 */
export async function readSignalsAsync(optimizer: TransformOptimizer, names: readonly string[]): Promise<Record<string, number>> {
  const signals = optimizer.signals as Record<string, unknown>;
  const present = names.filter((name) => isTensor(signals[name]));
  if (present.length === 0) return {};
  // Packed now, before any further step can release the signals.
  const packed = tf.tidy(() =>
    tf.concat(present.map((name) => tf.cast(tf.slice(tf.reshape(signals[name] as tf.Tensor, [-1]), 0, 1), 'float32'))),
  );
  try {
    const data = await packed.data();
    return Object.fromEntries(present.map((name, i) => [name, data[i]!]));
  } finally {
    packed.dispose();
  }
}
