import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { EmosensError, type Loss } from '@emosens/core';
import type { LionOptions, SgdOptions } from '@emosens/optimizers';
import { TransformOptimizer, emoSens, lion, sgd, type AdapterOptions, type ConfigOptions, type NonFinitePolicy } from '../src/index.js';

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
    expectTypeOf(sgd).parameter(0).toEqualTypeOf<(ConfigOptions<SgdOptions> & AdapterOptions) | undefined>();
    expectTypeOf(lion).parameter(0).toEqualTypeOf<(ConfigOptions<LionOptions> & AdapterOptions) | undefined>();
    // a config holds data: the learning rate is a number here, not a schedule
    expectTypeOf<NonNullable<Parameters<typeof sgd>[0]>['lr']>().toEqualTypeOf<number | undefined>();
    // @ts-expect-error: a schedule cannot be saved in a config
    expect(() => sgd({ lr: (step: number) => 0.1 / (step + 1) })).toThrow(/plain data/);
    expectTypeOf(sgd).returns.toEqualTypeOf<TransformOptimizer>();
    // @ts-expect-error: momentum is an option of sgd, not of lion
    expect(() => lion({ momentum: 0.9 })).toThrow(EmosensError);
  });
});
