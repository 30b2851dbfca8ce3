/// <reference types="@emosens/emotion" preserve="true" />
export { scaleBySign, scaleBySoftsign } from './sign.js';
export { cautious } from './cautious.js';
export { addDecayedWeights } from './weight-decay.js';
export { scaleByEmotionStep } from './emotion-step.js';
export { scaleByLearningRate, type LearningRateState, type Schedule } from './learning-rate.js';
