/// <reference types="@emosens/emotion" preserve="true" />
export { adam, adamw, emoAiry, emoCats, emoSens } from './optimizers.js';
export { emoAiryV3, emoCatsV3, emoSensV3, emoTion, emoVoid, type EmoTionOptions, type EmoV3Options, type EmoVoidOptions } from './emo-v3.js';
export { adagrad, adamax, lion, nadam, radam, rmsprop, sgd } from './torch-optimizers.js';
export { adafactor, lamb } from './optax-optimizers.js';
export type {
  AdafactorOptions,
  AdagradOptions,
  AdamaxOptions,
  EmoCatsOptions,
  EmoOptions,
  LionOptions,
  NadamOptions,
  AdamOptions,
  LambOptions,
  LearningRate,
  OptimizerOptions,
  RadamOptions,
  RmspropOptions,
  SgdOptions,
} from './options.js';
