/// <reference types="@emosens/emotion" preserve="true" />
export { scaleByAdam, type AdamState, type ScaleByAdamOptions } from './scale-by-adam.js';
export { scaleByFactoredRms, type FactoredRmsState, type ScaleByFactoredRmsOptions } from './scale-by-factored-rms.js';
export { scaleByAdafactorRms, type AdafactorRmsState, type ScaleByAdafactorRmsOptions } from './scale-by-adafactor-rms.js';
export {
  rootFiltered,
  type RootFilterOptions,
  type RootFilterStatistic,
} from './root-filter.js';
export {
  scaleByFreshnessMoment,
  type FreshnessMomentOptions,
  type FreshnessMomentState,
} from './scale-by-freshness-moment.js';
export { scaleByLionMoment, type LionMomentOptions, type LionMomentState } from './lion-moment.js';
export { trace, type TraceOptions, type TraceState } from './trace.js';
export { ema, type EmaOptions, type EmaState } from './ema.js';
export { scaleByRms, type RmsState, type ScaleByRmsOptions } from './scale-by-rms.js';
export { scaleByAdagrad, type AdagradState, type ScaleByAdagradOptions } from './scale-by-adagrad.js';
export { scaleByAdamax, type AdamaxState, type ScaleByAdamaxOptions } from './scale-by-adamax.js';
export { scaleByNadam, type NadamState, type ScaleByNadamOptions } from './scale-by-nadam.js';
export { scaleByRadam, type RadamState, type ScaleByRadamOptions } from './scale-by-radam.js';
