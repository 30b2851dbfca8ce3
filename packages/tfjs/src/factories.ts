// Declares the `emotion` and `calm` signals (module augmentation of @emosens/core), so that
// `optimizer.signals.emotion` is typed for users; kept in the emitted .d.ts on purpose.
/// <reference types="@emosens/emotion" preserve="true" />
import {
  adam as adamTransform,
  adamw as adamwTransform,
  emoAiry as emoAiryTransform,
  emoCats as emoCatsTransform,
  emoSens as emoSensTransform,
  type EmoCatsOptions,
  type EmoOptions,
  type OptimizerOptions,
} from '@emosens/optimizers';
import { createOptimizer } from './create-optimizer.js';
import { registerTransformFactory, type FactoryOptions } from './registry.js';
import type { TransformOptimizer, TransformOptimizerOptions } from './transform-optimizer.js';

/** Options of the ready-made optimizers: the optimizer's own, plus the adapter's. */
export type AdapterOptions = Omit<TransformOptimizerOptions, 'source'>;

registerTransformFactory('emoSens', (o) => emoSensTransform(o as EmoOptions));
registerTransformFactory('emoAiry', (o) => emoAiryTransform(o as EmoOptions));
registerTransformFactory('emoCats', (o) => emoCatsTransform(o as EmoCatsOptions));
registerTransformFactory('adam', (o) => adamTransform(o as OptimizerOptions));
registerTransformFactory('adamw', (o) => adamwTransform(o as OptimizerOptions));

const ADAPTER_KEYS = new Set<string>(['onNonFinite', 'fused']);

function build(factory: string, options: object): TransformOptimizer {
  const own: Record<string, unknown> = {};
  const adapter: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    (ADAPTER_KEYS.has(key) ? adapter : own)[key] = value;
  }
  return createOptimizer(factory, own as FactoryOptions, adapter as AdapterOptions);
}

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
export function emoSens(options: EmoOptions & AdapterOptions = {}): TransformOptimizer {
  return build('emoSens', options);
}

/**
 * EmoAiry as a `tf.Optimizer` (factored second moments for matrices; see `emoAiry` of
 * @emosens/optimizers). Defaults: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0.01,
 * useShadow false, onNonFinite 'skip'. Needs the loss every step.
 */
export function emoAiry(options: EmoOptions & AdapterOptions = {}): TransformOptimizer {
  return build('emoAiry', options);
}

/**
 * EmoCats as a `tf.Optimizer` (Lion-style signed moment; see `emoCats` of
 * @emosens/optimizers). Defaults: lr 1e-3, betas [0.9, 0.99], weightDecay 0.01,
 * useShadow false, decoupledWeightDecay false, onNonFinite 'skip'. Needs the loss every step.
 */
export function emoCats(options: EmoCatsOptions & AdapterOptions = {}): TransformOptimizer {
  return build('emoCats', options);
}

/**
 * Adam as a `tf.Optimizer`, computed like `torch.optim.Adam`. Defaults: lr 1e-3,
 * betas [0.9, 0.999], eps 1e-8, weightDecay 0, onNonFinite 'skip'. Needs no loss.
 */
export function adam(options: OptimizerOptions & AdapterOptions = {}): TransformOptimizer {
  return build('adam', options);
}

/**
 * AdamW as a `tf.Optimizer`, computed like `torch.optim.AdamW`. Defaults: lr 1e-3,
 * betas [0.9, 0.999], eps 1e-8, weightDecay 0.01, onNonFinite 'skip'. Needs no loss.
 */
export function adamw(options: OptimizerOptions & AdapterOptions = {}): TransformOptimizer {
  return build('adamw', options);
}
