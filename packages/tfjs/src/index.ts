export {
  TransformOptimizer,
  type NonFinitePolicy,
  type TransformOptimizerOptions,
  type TransformSource,
} from './transform-optimizer.js';
export { createOptimizer } from './create-optimizer.js';
export { adam, adamw, emoAiry, emoCats, emoSens, type AdapterOptions } from './factories.js';
export {
  getTransformFactory,
  registerTransformFactory,
  registeredTransformFactories,
  type FactoryOptions,
  type TransformFactory,
} from './registry.js';
export type { NamedTensor } from './internal/weights.js';
