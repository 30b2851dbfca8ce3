/// <reference types="@emosens/emotion" preserve="true" />
export { adam, adamw, emoAiry, emoCats, emoSens } from './optimizers.js';
export type { EmoCatsOptions, EmoOptions, OptimizerOptions } from './options.js';
