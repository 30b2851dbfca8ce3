/// <reference types="@emosens/emotion" preserve="true" />
export { factoredStatistics, outerProduct } from './moment-math.js';
export { scaleByAdam, type AdamState, type ScaleByAdamOptions } from './scale-by-adam.js';
export { scaleByFactoredRms, type FactoredRmsState, type ScaleByFactoredRmsOptions } from './scale-by-factored-rms.js';
export {
  filterThreshold,
  rootFilterMask,
  rootFiltered,
  type RootFilterOptions,
  type RootFilterStatistic,
} from './root-filter.js';
export { scaleByLionMoment, type LionMomentOptions, type LionMomentState } from './lion-moment.js';
