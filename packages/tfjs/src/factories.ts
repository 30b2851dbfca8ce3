// Declares the `emotion` and `calm` signals (module augmentation of @emosens/core), so that
// `optimizer.signals.emotion` is typed for users; kept in the emitted .d.ts on purpose.
/// <reference types="@emosens/emotion" preserve="true" />
import { EmosensError, describeValue, type GradientTransformation, type StateValue } from '@emosens/core';
import * as transforms from '@emosens/optimizers';
import { createOptimizer } from './create-optimizer.js';
import { registerTransformFactory, type FactoryOptions } from './registry.js';
import type { TransformOptimizer, TransformOptimizerOptions } from './transform-optimizer.js';

/** Options of the ready-made optimizers: the optimizer's own, plus the adapter's. */
export type AdapterOptions = Omit<TransformOptimizerOptions, 'source'>;

/**
 * The options of an @emosens/optimizers transform that a config can hold: the same keys,
 * with function values (a learning-rate schedule) left out, since `getConfig` must save
 * them as data. For a schedule, wrap the transform yourself,
 * `new TransformOptimizer(sgd({ lr: schedule }))` (not serializable), or register a factory
 * that builds the schedule from numbers (`registerTransformFactory`).
 */
export type ConfigOptions<O> = { [K in keyof O]: Exclude<O[K], (...args: never[]) => unknown> };

/** A ready-made optimizer of @emosens/optimizers as a `tf.Optimizer` factory: its own options (as data) plus the adapter's. */
export type ReadyMadeFactory<O> = (options?: ConfigOptions<O> & AdapterOptions) => TransformOptimizer;

const ADAPTER_KEYS = new Set<string>(['onNonFinite', 'fused']);

/**
 * The one mechanism behind every ready-made factory: registers `transform` of
 * @emosens/optimizers under `name` (so `fromConfig` and `tf.loadLayersModel` can rebuild
 * it) and returns the `tf.Optimizer` factory of the same name, which splits the adapter
 * options (`onNonFinite`, `fused`) from the optimizer's own and records the latter in the
 * config. The optimizer's options are validated by its transform, the adapter's by
 * `TransformOptimizer`, each naming the option; anything but an options object is refused.
 */
function readyMade<O extends object>(
  name: string,
  transform: (options?: O) => GradientTransformation<StateValue>,
): ReadyMadeFactory<O> {
  registerTransformFactory(name, (o) => transform(o as O));
  return (options = {} as ConfigOptions<O> & AdapterOptions) => {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new EmosensError('INVALID_OPTION', `${name}: options must be an object, got ${describeValue(options)}.`);
    }
    const own: Record<string, unknown> = {};
    const adapter: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(options)) {
      if (value === undefined) continue;
      (ADAPTER_KEYS.has(key) ? adapter : own)[key] = value;
    }
    return createOptimizer(name, own as FactoryOptions, adapter as AdapterOptions);
  };
}

// Each factory below is exported under the name of the @emosens/optimizers transform it
// runs (and registered for configs under that name): `adam` here is emosens's torch-exact
// Adam as a tf.Optimizer, not `tf.train.adam`. Import them from '@emosens/tfjs', so the
// package name says which one you mean.

/**
 * EmoSens as a `tf.Optimizer` (see `emoSens` of @emosens/optimizers for the update rule).
 * Defaults: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0.01, useShadow false,
 * onNonFinite 'skip'. Needs the loss every step: `minimize` and `model.fit` pass it;
 * before `applyGradients`, call `setLoss`.
 *
 * ```ts
 * model.compile({ optimizer: emoSens({ lr: 1e-3 }), loss: 'categoricalCrossentropy' });
 * ```
 */
export const emoSens = readyMade('emoSens', transforms.emoSens);

/**
 * EmoAiry as a `tf.Optimizer` (factored second moments for matrices; see `emoAiry` of
 * @emosens/optimizers). Defaults: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0.01,
 * useShadow false, onNonFinite 'skip'. Needs the loss every step.
 */
export const emoAiry = readyMade('emoAiry', transforms.emoAiry);

/**
 * EmoCats as a `tf.Optimizer` (Lion-style signed moment; see `emoCats` of
 * @emosens/optimizers). Defaults: lr 1e-3, betas [0.9, 0.99], weightDecay 0.01,
 * useShadow false, decoupledWeightDecay false, onNonFinite 'skip'. Needs the loss every step.
 */
export const emoCats = readyMade('emoCats', transforms.emoCats);

/**
 * Adam as a `tf.Optimizer`, computed like `torch.optim.Adam`. Defaults: lr 1e-3,
 * betas [0.9, 0.999], eps 1e-8, weightDecay 0, onNonFinite 'skip'. Needs no loss.
 */
export const adam = readyMade('adam', transforms.adam);

/**
 * AdamW as a `tf.Optimizer`, computed like `torch.optim.AdamW`. Defaults: lr 1e-3,
 * betas [0.9, 0.999], eps 1e-8, weightDecay 0.01, onNonFinite 'skip'. Needs no loss.
 */
export const adamw = readyMade('adamw', transforms.adamw);

/**
 * SGD as a `tf.Optimizer`, computed like `torch.optim.SGD` (see `sgd` of
 * @emosens/optimizers). Defaults: lr 1e-3, momentum 0, dampening 0, nesterov false,
 * weightDecay 0 (L2), onNonFinite 'skip'. Needs no loss. `sgd({ lr, momentum: 0.9 })` is
 * what `tf.train.momentum(lr, 0.9)` computes.
 *
 * ```ts
 * model.compile({ optimizer: sgd({ lr: 0.05, momentum: 0.9 }), loss: 'categoricalCrossentropy' });
 * ```
 */
export const sgd = readyMade('sgd', transforms.sgd);

/**
 * RMSprop as a `tf.Optimizer`, computed like `torch.optim.RMSprop`: `g / (sqrt(v) + eps)`.
 * Defaults: lr 1e-2, alpha 0.99, eps 1e-8, weightDecay 0 (L2), momentum 0, centered false,
 * onNonFinite 'skip'. Needs no loss.
 *
 * Differs from `tf.train.rmsprop`, which divides by `sqrt(v + eps)` (eps inside the root)
 * and takes `decay` for torch's `alpha`.
 */
export const rmsprop = readyMade('rmsprop', transforms.rmsprop);

/**
 * Adagrad as a `tf.Optimizer`, computed like `torch.optim.Adagrad` (no `lr_decay`).
 * Defaults: lr 1e-2, weightDecay 0 (L2), initialAccumulatorValue 0, eps 1e-10,
 * onNonFinite 'skip'. Needs no loss.
 */
export const adagrad = readyMade('adagrad', transforms.adagrad);

/**
 * Adamax as a `tf.Optimizer`, computed like `torch.optim.Adamax`. Defaults: lr 2e-3,
 * betas [0.9, 0.999], eps 1e-8, weightDecay 0 (L2), onNonFinite 'skip'. Needs no loss.
 */
export const adamax = readyMade('adamax', transforms.adamax);

/**
 * NAdam as a `tf.Optimizer`, computed like `torch.optim.NAdam` (torch 1.13). Defaults:
 * lr 2e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0 (L2), momentumDecay 4e-3,
 * onNonFinite 'skip'. Needs no loss. tfjs has no NAdam.
 */
export const nadam = readyMade('nadam', transforms.nadam);

/**
 * RAdam as a `tf.Optimizer`, computed like `torch.optim.RAdam` (torch 1.13). Defaults:
 * lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0 (L2), onNonFinite 'skip'. Needs no
 * loss. tfjs has no RAdam.
 */
export const radam = readyMade('radam', transforms.radam);

/**
 * Lion (Chen et al., arXiv 2302.06675) as a `tf.Optimizer`: `p -= lr * (sign(b1 m + (1 - b1) g) + wd p)`.
 * Defaults: lr 1e-4, betas [0.9, 0.99], weightDecay 0 (decoupled), onNonFinite 'skip'.
 * Needs no loss. Lion's steps have size lr per entry: use a learning rate 3-10x smaller
 * than Adam's. tfjs has no Lion.
 */
export const lion = readyMade('lion', transforms.lion);

/**
 * Adafactor (Shazeer and Stern 2018) as a `tf.Optimizer`, built as optax's `adafactor`
 * chain (see `adafactor` of @emosens/optimizers): factored second moments for matrices
 * whose sides are both at least `minDimSizeToFactor`. Defaults (optax's): no learning rate
 * (the parameter scale sets the step), minDimSizeToFactor 128, decayRate 0.8,
 * multiplyByParameterScale true, clippingThreshold 1, eps 1e-30, onNonFinite 'skip'.
 * Needs no loss. tfjs has no Adafactor.
 */
export const adafactor = readyMade('adafactor', transforms.adafactor);

/**
 * LAMB (You et al. 2019) as a `tf.Optimizer`, built as optax's `lamb` chain (Adam direction,
 * decoupled weight decay, per-parameter trust ratio; see `lamb` of @emosens/optimizers).
 * Defaults: lr 1e-3, b1 0.9, b2 0.999, eps 1e-6, epsRoot 0, weightDecay 0,
 * onNonFinite 'skip'. Needs no loss. tfjs has no LAMB.
 */
export const lamb = readyMade('lamb', transforms.lamb);

// The Emo family's v3.9.1 generation. Their state holds host numbers computed in float64
// (the loss averages of `trackEmotionV3`, the noise, d, c and dNR of `emoPulse`) beside
// device tensors; getWeights saves each number leaf as its 64 bits, so a resumed run is
// exact. They read the loss as a number: a tensor loss (`minimize`, `model.fit`) is read
// back once per step.

/**
 * EmoSens v3.9.1 as a `tf.Optimizer`: Adam moments without bias correction, stepped by
 * emoPulse, a step size derived from the loss history each step (see `emoSensV3` of
 * @emosens/optimizers). Defaults: lr 1.0 (it only scales emoPulse's step size),
 * betas [0.9, 0.995], eps 1e-8, weightDecay 0.01, stopcoef 0.04, useShadow false,
 * onNonFinite 'skip'. Needs the loss every step and reads it back once per step (the
 * scalar rule runs in float64 on the host, as the reference). Publishes `emotion`,
 * `stepSize` and `calm`.
 *
 * ```ts
 * model.compile({ optimizer: emoSensV3(), loss: 'meanSquaredError' });
 * ```
 */
export const emoSensV3 = readyMade('emoSensV3', transforms.emoSensV3);

/**
 * EmoAiry v3.9.1 as a `tf.Optimizer`: factored second moments for matrices, a signed
 * direction, stepped by emoPulse (see `emoAiryV3` of @emosens/optimizers). Defaults as
 * {@link emoSensV3}. Reads the loss back once per step.
 */
export const emoAiryV3 = readyMade('emoAiryV3', transforms.emoAiryV3);

/**
 * EmoCats v3.9.1 as a `tf.Optimizer`: Lion's signed interpolated moment, stepped by
 * emoPulse (see `emoCatsV3` of @emosens/optimizers). Defaults as {@link emoSensV3}. Reads
 * the loss back once per step.
 */
export const emoCatsV3 = readyMade('emoCatsV3', transforms.emoCatsV3);

/**
 * EmoTion v3.9.1 as a `tf.Optimizer`: a first moment mixed at the rate of the weights'
 * freshness, stepped by emoPulse along its sign (see `emoTion` of @emosens/optimizers).
 * Options: lr 1.0, betas [0.9, 0.995] (beta1 used), stopcoef 0.04, useShadow false; no
 * weight decay, no eps. Reads the loss back once per step.
 */
export const emoTion = readyMade('emoTion', transforms.emoTion);

/**
 * EmoVoid v3.9.1 as a `tf.Optimizer`: the sign of the gradient stepped by emoPulse, the
 * weights' global L1 norm held for the first 55 steps (see `emoVoid` of
 * @emosens/optimizers). Options: lr 1.0, stopcoef 0.04, useShadow false. Reads the loss
 * back once per step.
 */
export const emoVoid = readyMade('emoVoid', transforms.emoVoid);
