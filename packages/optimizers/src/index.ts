/// <reference types="@emosens/emotion" preserve="true" />
export { adam, adamw, emoAiry, emoCats, emoSens } from './optimizers.js';
export { adagrad, adamax, lion, nadam, radam, rmsprop, sgd } from './torch-optimizers.js';
export type {
  AdagradOptions,
  AdamaxOptions,
  EmoCatsOptions,
  EmoOptions,
  LionOptions,
  NadamOptions,
  AdamOptions,
  LearningRate,
  OptimizerOptions,
  RadamOptions,
  RmspropOptions,
  SgdOptions,
} from './options.js';
