import type { FusedKernel } from '@emosens/core';
import { onCpu, runEmoStep, type EmoDirection } from '../internal/emo-step.js';
import { readMoments, stepFilteredAdam, type MomentsState } from '../internal/filtered-adam.js';
import type { Precision } from '../internal/options.js';
import { EMO_SENS } from '../kernel-keys.js';

const name = `${EMO_SENS}/cpu`;

/** EmoSens's direction: Adam moments without bias correction, the `|g|^(1/3)` filter. */
const direction: EmoDirection<MomentsState> = {
  read: readMoments,
  update: (ctx, state) => stepFilteredAdam(ctx, ctx.entries, state, 'abs'),
};

/**
 * EmoSens on the cpu backend: the whole step of `emoSens(options)` (emotion, shadow,
 * filtered Adam moments, cooled step, decay, learning rate) in one pass over each
 * parameter's arrays, in place.
 */
export function createEmoSensCpuKernel(precision: Precision): FusedKernel {
  return { name, supports: onCpu, guardsNonFinite: true, step: (args) => runEmoStep(name, direction, precision, args) };
}
