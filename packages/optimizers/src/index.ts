/// <reference types="@emosens/emotion" preserve="true" />
export { adam, adamw, emoAiry, emoCats, emoSens } from './optimizers.js';
export { adagrad, adamax, lion, rmsprop, sgd } from './torch-optimizers.js';
export type {
  AdagradOptions,
  AdamaxOptions,
  EmoCatsOptions,
  EmoOptions,
  LionOptions,
  OptimizerOptions,
  RmspropOptions,
  SgdOptions,
} from './options.js';
