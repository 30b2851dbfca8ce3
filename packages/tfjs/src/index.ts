/**
 * @packageDocumentation
 * @mergeModuleWith <project>
 */
export {
  TransformOptimizer,
  type NonFinitePolicy,
  type TransformOptimizerOptions,
  type TransformSource,
} from './transform-optimizer.js';
export { createOptimizer } from './create-optimizer.js';
export {
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
  type ConfigOptions,
  type ReadyMadeFactory,
} from './factories.js';
export {
  getTransformFactory,
  registerTransformFactory,
  registeredTransformFactories,
  type FactoryOptions,
  type TransformFactory,
} from './registry.js';
export type { NamedTensor } from './internal/weights.js';
