// The `emotion`, `calm` and `stepSize` signal names are declared by @emosens/emotion (a
// module augmentation of @emosens/core's `Signals`); this import makes them known here.
import type {} from '@emosens/emotion';
import {
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  emoAiry,
  emoAiryV3,
  emoCats,
  emoCatsV3,
  emoSens,
  emoSensV3,
  emoTion,
  emoVoid,
  lamb,
  lion,
  nadam,
  radam,
  rmsprop,
  sgd,
  type TransformOptimizer,
} from '@emosens/tfjs';

/** One ready-made optimizer of @emosens/tfjs, with the learning rate the page gives it per task. */
export interface ReadyMade {
  readonly label: string;
  /** The factory's name, for the TypeScript shown in the page. */
  readonly factory: string;
  /** Learning rate on the 2-D test functions (gradients of order 1 to 100). */
  readonly raceLr: number;
  /**
   * Learning rate on MNIST: the one apps/mnist uses (the reference default for the Emo
   * family, AdamW and Adam; a tried one for the others, see apps/mnist's README).
   */
  readonly mnistLr: number;
  readonly make: (lr: number) => TransformOptimizer;
}

/**
 * Every ready-made optimizer. The v3.9.1 generation's `lr` only scales its emoPulse step
 * size (at most 3e-3 * lr), hence its large race rate.
 */
export const READY_MADE = {
  emoSens: { label: 'EmoSens', factory: 'emoSens', raceLr: 0.05, mnistLr: 1e-3, make: (lr) => emoSens({ lr }) },
  emoAiry: { label: 'EmoAiry', factory: 'emoAiry', raceLr: 0.05, mnistLr: 1e-3, make: (lr) => emoAiry({ lr }) },
  emoCats: { label: 'EmoCats', factory: 'emoCats', raceLr: 0.02, mnistLr: 1e-3, make: (lr) => emoCats({ lr }) },
  emoSensV3: { label: 'EmoSens v3', factory: 'emoSensV3', raceLr: 15, mnistLr: 1, make: (lr) => emoSensV3({ lr }) },
  emoAiryV3: { label: 'EmoAiry v3', factory: 'emoAiryV3', raceLr: 15, mnistLr: 1, make: (lr) => emoAiryV3({ lr }) },
  emoCatsV3: { label: 'EmoCats v3', factory: 'emoCatsV3', raceLr: 15, mnistLr: 1, make: (lr) => emoCatsV3({ lr }) },
  emoTion: { label: 'EmoTion', factory: 'emoTion', raceLr: 15, mnistLr: 1, make: (lr) => emoTion({ lr }) },
  emoVoid: { label: 'EmoVoid', factory: 'emoVoid', raceLr: 15, mnistLr: 1, make: (lr) => emoVoid({ lr }) },
  adam: { label: 'Adam', factory: 'adam', raceLr: 0.05, mnistLr: 1e-3, make: (lr) => adam({ lr }) },
  adamw: { label: 'AdamW', factory: 'adamw', raceLr: 0.05, mnistLr: 1e-3, make: (lr) => adamw({ lr }) },
  sgd: { label: 'SGD', factory: 'sgd', raceLr: 1e-3, mnistLr: 0.2, make: (lr) => sgd({ lr }) },
  rmsprop: { label: 'RMSprop', factory: 'rmsprop', raceLr: 0.01, mnistLr: 1e-3, make: (lr) => rmsprop({ lr }) },
  adagrad: { label: 'Adagrad', factory: 'adagrad', raceLr: 0.3, mnistLr: 3e-2, make: (lr) => adagrad({ lr }) },
  adamax: { label: 'Adamax', factory: 'adamax', raceLr: 0.05, mnistLr: 5e-3, make: (lr) => adamax({ lr }) },
  nadam: { label: 'NAdam', factory: 'nadam', raceLr: 0.05, mnistLr: 2e-3, make: (lr) => nadam({ lr }) },
  radam: { label: 'RAdam', factory: 'radam', raceLr: 0.05, mnistLr: 3e-3, make: (lr) => radam({ lr }) },
  lion: { label: 'Lion', factory: 'lion', raceLr: 0.02, mnistLr: 3e-4, make: (lr) => lion({ lr }) },
  adafactor: { label: 'Adafactor', factory: 'adafactor', raceLr: 0.05, mnistLr: 3e-2, make: (lr) => adafactor({ lr }) },
  lamb: { label: 'LAMB', factory: 'lamb', raceLr: 0.05, mnistLr: 1e-2, make: (lr) => lamb({ lr }) },
} as const satisfies Record<string, ReadyMade>;

export type ReadyMadeName = keyof typeof READY_MADE;
export const READY_MADE_NAMES = Object.keys(READY_MADE) as ReadyMadeName[];

export function isReadyMade(name: string): name is ReadyMadeName {
  return Object.hasOwn(READY_MADE, name);
}
