/// <reference types="@emosens/emotion" preserve="true" />
export { scaleBySign, scaleBySoftsign } from './sign.js';
export { cautious } from './cautious.js';
export { addDecayedWeights } from './weight-decay.js';
export { scaleByEmotionStep } from './emotion-step.js';
export { scaleByLearningRate, type LearningRateFromValue, type Schedule, type ScheduleState } from './learning-rate.js';
export { clip, clipByBlockRms, clipByGlobalNorm } from './clipping.js';
export { multiSteps, type MultiStepsOptions, type MultiStepsState } from './wrappers/multi-steps.js';
export { lookahead, type LookaheadOptions, type LookaheadState } from './wrappers/lookahead.js';
export { emaParams, readEmaParams, type EmaParamsOptions, type EmaParamsState } from './wrappers/ema-params.js';
export { masked, type Mask } from './wrappers/masked.js';
export { applyIfFinite, type ApplyIfFiniteOptions, type ApplyIfFiniteState } from './wrappers/apply-if-finite.js';
export { adaptiveGradClip, type AdaptiveGradClipOptions } from './adaptive-grad-clip.js';
export { scaleByTrustRatio, type ScaleByTrustRatioOptions } from './scale-by-trust-ratio.js';
export { scaleByParamBlockRms, type ScaleByParamBlockRmsOptions } from './scale-by-param-block-rms.js';
export { scale } from './scale.js';
export {
  rescaleToPreviousNorm,
  withPreviousNormRescale,
  type PreviousNormOptions,
  type PreviousNormState,
  type PreviousNormWrapperState,
} from './rescale-to-previous-norm.js';
export { reduceOnPlateau, type ReduceOnPlateauOptions, type ReduceOnPlateauState } from './reduce-on-plateau.js';
export {
  getHyperparams,
  injectHyperparams,
  setHyperparams,
  type Hyperparam,
  type HyperparamValues,
  type InjectHyperparamsState,
} from './inject-hyperparams.js';
export {
  constantSchedule,
  cosineDecaySchedule,
  cosineOnecycleSchedule,
  cosineWarmRestartsSchedule,
  exponentialDecay,
  joinSchedules,
  linearOnecycleSchedule,
  linearSchedule,
  piecewiseConstantSchedule,
  polynomialSchedule,
  stepDecaySchedule,
  warmupCosineDecaySchedule,
  type CosineDecayScheduleOptions,
  type CosineWarmRestartsScheduleOptions,
  type ExponentialDecayOptions,
  type LinearScheduleOptions,
  type OnecycleScheduleOptions,
  type PolynomialScheduleOptions,
  type StepDecayScheduleOptions,
  type WarmupCosineDecayScheduleOptions,
} from './schedules.js';
