import type * as tf from '@tensorflow/tfjs-core';
import type { GradientTransformation, StateOf } from '@emosens/core';
import { scaleByAdam, type AdamState } from '@emosens/moments';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  applyIfFinite,
  emaParams,
  lookahead,
  masked,
  multiSteps,
  readEmaParams,
  type ApplyIfFiniteState,
  type EmaParamsState,
  type LookaheadState,
  type MultiStepsState,
} from '../../src/index.js';

describe('wrapper types', () => {
  it('keep the inner state type inside their own', () => {
    const inner = scaleByAdam();
    expectTypeOf(multiSteps(inner, { everyK: 2 })).toEqualTypeOf<GradientTransformation<MultiStepsState<AdamState>>>();
    expectTypeOf<StateOf<ReturnType<typeof lookahead<AdamState>>>['inner']>().toEqualTypeOf<AdamState>();
    expectTypeOf<LookaheadState<AdamState>['slow']>().toEqualTypeOf<Readonly<Record<string, tf.Tensor>>>();
    expectTypeOf(masked(inner, { w: true })).toEqualTypeOf<GradientTransformation<AdamState>>();
    expectTypeOf(applyIfFinite(inner, { maxConsecutiveErrors: 1 })).toEqualTypeOf<GradientTransformation<ApplyIfFiniteState<AdamState>>>();
    expectTypeOf(emaParams()).toEqualTypeOf<GradientTransformation<EmaParamsState>>();
    expectTypeOf(readEmaParams).returns.toEqualTypeOf<Readonly<Record<string, tf.Tensor>>>();
  });

  it('require the options optax requires', () => {
    // @ts-expect-error everyK is required
    expect(() => multiSteps(scaleByAdam(), {})).toThrow(/everyK/);
    // @ts-expect-error maxConsecutiveErrors is required
    expect(() => applyIfFinite(scaleByAdam(), {})).toThrow(/maxConsecutiveErrors/);
  });
});
