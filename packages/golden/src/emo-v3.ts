import type { GradientTransformation, StateValue } from '@emosens/core';
import { emoAiryV3, emoCatsV3, emoSensV3, emoTion, emoVoid } from '@emosens/optimizers';
import type * as tf from '@tensorflow/tfjs-core';
import { GoldenFormatError, type GoldenCase } from './format.js';
import { findStateLeaf } from './torch-peers.js';

// An emo-v3 recording names its class in `optimizer` (`EmoSens`, `EmoAiry`, `EmoCats`,
// `EmoTion`, `EmoVoid`, the v3.9.1 reference's classes) and its constructor arguments in
// `hyper`; the optimizer is built from those fields, never from the case name.

/** The v3.9.1 classes a recording's `optimizer` field may name. */
const V3: Readonly<Record<string, { readonly make: (o: Record<string, unknown>) => GradientTransformation<StateValue>; readonly args: readonly string[] }>> = {
  EmoSens: { make: (o) => emoSensV3(o), args: ['lr', 'betas', 'eps', 'weight_decay', 'stopcoef', 'use_shadow'] },
  EmoAiry: { make: (o) => emoAiryV3(o), args: ['lr', 'betas', 'eps', 'weight_decay', 'stopcoef', 'use_shadow'] },
  EmoCats: { make: (o) => emoCatsV3(o), args: ['lr', 'betas', 'eps', 'weight_decay', 'stopcoef', 'use_shadow'] },
  // the reference takes weight_decay (and eps) and does not use them
  EmoTion: { make: (o) => emoTion(o), args: ['lr', 'betas', 'stopcoef', 'use_shadow'] },
  EmoVoid: { make: (o) => emoVoid(o), args: ['lr', 'stopcoef', 'use_shadow'] },
};

/** The Emo v3.9.1 classes a recording may name. */
export const EMO_V3_CLASSES: readonly string[] = Object.keys(V3);

/** Whether a recording is of the Emo family's v3.9.1 generation (by its `optimizer` field). */
export function isEmoV3Case(golden: GoldenCase): boolean {
  return typeof golden.optimizer === 'string' && golden.optimizer in V3;
}

/** Arguments the reference accepts and ignores for a class: skipped, not refused. */
const IGNORED: Readonly<Record<string, readonly string[]>> = { EmoTion: ['weight_decay', 'eps'], EmoVoid: ['weight_decay', 'eps', 'betas'] };

/** The emosens optimizer of an emo-v3 recording, built from `optimizer` and `hyper`. */
export function emoV3Transform(golden: GoldenCase): GradientTransformation<StateValue> {
  const spec = golden.optimizer !== undefined ? V3[golden.optimizer] : undefined;
  if (!spec) throw new GoldenFormatError(`case '${golden.case}': 'optimizer' must be one of ${EMO_V3_CLASSES.join(', ')}.`);
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(golden.hyper ?? {})) {
    if (IGNORED[golden.optimizer!]?.includes(key)) continue;
    if (!spec.args.includes(key)) throw new GoldenFormatError(`case '${golden.case}': hyper '${key}' is not an argument of ${golden.optimizer}.`);
    options[key.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())] = value;
  }
  return spec.make(options);
}

/** Where the reference's per-parameter state lives in the v3 optimizers' state (`{p}`: the parameter). */
const STATE_KEYS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  EmoSens: { exp_avg: 'mu/{p}', exp_avg_sq: 'nu/{p}' },
  EmoAiry: { exp_avg_r: 'factored/{p}/row', exp_avg_c: 'factored/{p}/col', exp_avg_sq: 'dense/nu/{p}' },
  EmoCats: { exp_avg: 'moment/{p}' },
  EmoTion: { exp_avg: 'mu/{p}' },
  EmoVoid: {},
};

/** The leaf holding the reference's state `key` (`exp_avg`, `shadow`, ...) of `param`, or why not found. */
export function emoV3StateLeaf(golden: GoldenCase, state: StateValue, param: string, key: string): tf.Tensor | number | string {
  const pattern = key === 'shadow' ? 'shadow/{p}/value' : STATE_KEYS[golden.optimizer ?? '']?.[key];
  if (pattern === undefined) return `no emosens state is known for the reference's '${key}' of ${golden.optimizer}`;
  return findStateLeaf(state, pattern, param);
}
