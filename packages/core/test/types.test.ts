import type * as tf from '@tensorflow/tfjs-core';
import { describe, expectTypeOf, it } from 'vitest';
import {
  chain,
  identity,
  type EmptyState,
  type GradientTransformation,
  type StepContext,
} from '../src/index.js';

declare module '../src/index.js' {
  interface Signals {
    typedSignal: tf.Scalar;
  }
}

describe('types of the public API', () => {
  it('signals are typed by declaration merging', () => {
    expectTypeOf<ReturnType<StepContext['read']>>().not.toBeAny();
    const read = (ctx: StepContext) => ctx.read('typedSignal', 'test');
    expectTypeOf(read).returns.toEqualTypeOf<tf.Scalar>();
    // @ts-expect-error an undeclared signal is a type error
    const unknown = (ctx: StepContext) => ctx.read('noSuchSignal', 'test');
    expectTypeOf(unknown).toBeFunction();
  });

  it('chain keeps each member state type, positionally and by name', () => {
    const counter: GradientTransformation<{ readonly count: number }> = {
      name: 'counter',
      init: () => ({ count: 0 }),
      update: (updates, state) => ({ updates, state: { count: state.count + 1 } }),
    };
    const positional = chain(identity(), counter);
    expectTypeOf(positional.init({})).toEqualTypeOf<readonly [EmptyState, { readonly count: number }]>();
    const named = chain({ id: identity(), c: counter });
    expectTypeOf(named.init({}).c).toEqualTypeOf<{ readonly count: number }>();
  });
});
