/// <reference types="@emosens/emotion" preserve="true" />
export { scaleByAdam, type AdamState, type ScaleByAdamOptions } from './scale-by-adam.js';
export { scaleByFactoredRms, type FactoredRmsState, type ScaleByFactoredRmsOptions } from './scale-by-factored-rms.js';
export {
  rootFiltered,
  type RootFilterOptions,
  type RootFilterStatistic,
} from './root-filter.js';
export { scaleByLionMoment, type LionMomentOptions, type LionMomentState } from './lion-moment.js';
