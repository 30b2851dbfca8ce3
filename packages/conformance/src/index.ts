export { describeConformance, type ConformanceTarget } from './suite.js';
export { randomChain, REFERENCE_OPTIMIZERS, type NamedTransform } from './chains.js';
export {
  bits,
  close,
  firstMismatch,
  lossSchedule,
  randomGradValues,
  randomShape,
  randomValues,
  seeded,
  stateSnapshot,
  valuesOf,
} from './helpers.js';
