import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { EmosensError, type Loss } from '@emosens/core';
import type { LionOptions, SgdOptions } from '@emosens/optimizers';
import { TransformOptimizer, emoSens, lion, sgd, type AdapterOptions, type NonFinitePolicy } from '../src/index.js';

describe('types', () => {
  it('the factories return a tf.Optimizer with typed signals', () => {
    const opt = emoSens();
    expectTypeOf(opt).toEqualTypeOf<TransformOptimizer>();
    expectTypeOf(opt).toMatchTypeOf<tf.Optimizer>();
    expectTypeOf(opt.signals.emotion).toEqualTypeOf<tf.Scalar | undefined>();
    expectTypeOf(opt.setLoss).parameter(0).toEqualTypeOf<Loss>();
    expectTypeOf<'emotion' | 'calm'>().toMatchTypeOf<Parameters<typeof opt.readSignal>[0]>();
    expectTypeOf<NonFinitePolicy>().toEqualTypeOf<'skip' | 'skipExact' | 'throw'>();
    // @ts-expect-error: an option the optimizers do not have
    expect(() => emoSens({ learningRate: 1 })).toThrow(EmosensError);
    opt.dispose();
  });

  it('each ready-made factory takes the options of its transform plus the adapter options', () => {
    expectTypeOf(sgd).parameter(0).toEqualTypeOf<(SgdOptions & AdapterOptions) | undefined>();
    expectTypeOf(lion).parameter(0).toEqualTypeOf<(LionOptions & AdapterOptions) | undefined>();
    expectTypeOf(sgd).returns.toEqualTypeOf<TransformOptimizer>();
    // @ts-expect-error: momentum is an option of sgd, not of lion
    expect(() => lion({ momentum: 0.9 })).toThrow(EmosensError);
  });
});
