/// <reference types="@emosens/emotion" preserve="true" />
export {
  FUSED_KEYS,
  planFusedStep,
  replaceStateTensors,
  type FusedDirection,
  type FusedEmotionSlots,
  type FusedFilter,
  type FusedKey,
  type FusedParamSlots,
  type FusedPlanResult,
  type FusedStepPlan,
} from './fused-plan.js';
export { adam, adamw, emoAiry, emoCats, emoSens } from './optimizers.js';
export type { EmoCatsOptions, EmoOptions, OptimizerOptions } from './options.js';
