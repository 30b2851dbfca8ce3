import type { serialization } from '@tensorflow/tfjs-core';
import { EmosensError, type GradientTransformation } from '@emosens/core';

/** Options of a registered transform factory: JSON-like data, so they can be saved in a config. */
export type FactoryOptions = serialization.ConfigDict;

/** Builds a transform from saved options (see {@link registerTransformFactory}). */
export type TransformFactory = (options: FactoryOptions) => GradientTransformation;

const factories = new Map<string, TransformFactory>();

/**
 * Registers a named transform factory, so that an optimizer built with
 * `createOptimizer(name, options)` can be rebuilt from its config (`fromConfig`,
 * `tf.loadLayersModel` with a saved optimizer). Every ready-made optimizer of this package
 * (`emoSens`, `emoAiry`, `emoCats`, `adam`, `adamw`, `sgd`, `rmsprop`, `adagrad`, `adamax`,
 * `nadam`, `radam`, `lion`, `adafactor`, `lamb`, and the v3.9.1 `emoSensV3`, `emoAiryV3`,
 * `emoCatsV3`, `emoTion`, `emoVoid`) is registered under its own name.
 *
 * Names must not contain `_`: tfjs-layers turns snake_case strings of a saved config
 * into camelCase when it loads a model, which would change the name.
 *
 * ```ts
 * // trace of @emosens/moments, scaleByLearningRate of @emosens/modifiers
 * registerTransformFactory('momentumSgd', (o) => chain(trace({ decay: o.beta as number }), scaleByLearningRate(o.lr as number)));
 * const opt = createOptimizer('momentumSgd', { lr: 0.1, beta: 0.9 });
 * ```
 */
export function registerTransformFactory(name: string, factory: TransformFactory): void {
  if (typeof name !== 'string' || !/^[A-Za-z][A-Za-z0-9.-]*$/.test(name)) {
    throw new EmosensError(
      'INVALID_OPTION',
      `registerTransformFactory: name must start with a letter and hold only letters, digits, '.' and '-' ` +
        `(no '_', which tfjs-layers rewrites when loading a config), got ${JSON.stringify(name)}.`,
    );
  }
  if (typeof factory !== 'function') {
    throw new EmosensError('INVALID_OPTION', `registerTransformFactory('${name}'): factory must be a function.`);
  }
  factories.set(name, factory);
}

/** The factory registered under `name`; throws `INVALID_OPTION` listing the known names. */
export function getTransformFactory(name: string): TransformFactory {
  const factory = factories.get(name);
  if (factory === undefined) {
    throw new EmosensError(
      'INVALID_OPTION',
      `No transform factory is registered as '${name}' (registered: ${[...factories.keys()].join(', ') || 'none'}). ` +
        'Register it with registerTransformFactory before loading the optimizer.',
    );
  }
  return factory;
}

/** The names of the registered factories. */
export function registeredTransformFactories(): string[] {
  return [...factories.keys()];
}
