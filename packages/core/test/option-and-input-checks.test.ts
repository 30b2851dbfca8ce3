import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { EmosensError, chain, check, identity, isTensor, runTransform, validateGradients, validateLoss, validateParams } from '../src/index.js';
import { addConstant, momentum } from './helpers.js';

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    if (e instanceof EmosensError) return e.code;
    return `not an EmosensError: ${String(e)}`;
  }
  return undefined;
};

describe('check helpers describe what they got', () => {
  it("a string lr says it got a string: lr: '0.01'", () => {
    expect(() => check.number('adam', 'lr', '0.01')).toThrowError(/adam: option 'lr' must be a finite number, got a string \('0\.01'\)/);
  });

  it('names the received type for every helper (boolean, integer, betas)', () => {
    expect(() => check.boolean('b', 'useShadow', 'yes')).toThrowError(/option 'useShadow' must be true or false, got a string \('yes'\)/);
    expect(() => check.integer('b', 'n', '3')).toThrowError(/option 'n' must be an integer >= 1, got a string \('3'\)/);
    expect(() => check.betas('b', 'betas', { 0: 0.9, 1: 0.99 })).toThrowError(/option 'betas' must be a pair \[beta1, beta2\], got an object/);
    expect(() => check.number('b', 'eps', null)).toThrowError(/got null/);
    expect(() => check.number('b', 'eps', NaN)).toThrowError(/got NaN/);
  });
});

describe('isTensor: one definition', () => {
  it('a tensor-like object without a dtype is not a tensor anywhere (validateLoss included)', () => {
    const fake = { dataId: {}, shape: [], size: 1 };
    expect(isTensor(fake)).toBe(false);
    expect(() => validateLoss(fake)).toThrowError(/loss: expected a number or a scalar tensor, got an object/);
  });
});

describe('validate: error codes', () => {
  it('params that are not an object of tensors are INVALID_ARGUMENT, not INVALID_STATE', () => {
    expect(codeOf(() => validateParams(null as never, 'blk'))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => validateParams({ w: 3 } as never, 'blk'))).toBe('INVALID_ARGUMENT');
  });

  it('gradients that are not an object of tensors are INVALID_ARGUMENT, not UNKNOWN_PARAMETER or a TypeError', () => {
    const params = { w: tf.zeros([2]) };
    expect(codeOf(() => validateGradients(params, null as never))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => validateGradients(params, { w: [1, 2] } as never))).toBe('INVALID_ARGUMENT');
    expect(() => validateGradients(params, { w: null } as never)).toThrowError(/gradient for parameter 'w' must be a tensor, got null/);
    tf.dispose(params);
  });
});

describe('chain checks its state: one entry per member', () => {
  it('a positional chain given a state with too few entries throws INVALID_STATE naming the chain', () => {
    const tx = chain(momentum(0.9), addConstant(1));
    const params = { w: tf.zeros([2]) };
    const state = tx.init(params);
    const short = [state[0]] as unknown as typeof state;
    const grads = { w: tf.ones([2]) };
    expect(() => runTransform(tx, params, short, grads)).toThrowError(EmosensError);
    expect(() => runTransform(tx, params, short, grads)).toThrowError(/chain\(.*\): the state has 1 entry, expected 2 \(one per member, in order\)/);
    tf.dispose([params, grads, state as never]);
  });

  it('a named chain given a state with a missing or extra key throws INVALID_STATE naming them', () => {
    const tx = chain({ a: identity(), b: momentum(0.9) });
    const params = { w: tf.zeros([2]) };
    const state = tx.init(params);
    const grads = { w: tf.ones([2]) };
    const wrong = { a: state.a, c: state.b } as unknown as typeof state;
    expect(codeOf(() => runTransform(tx, params, wrong, grads))).toBe('INVALID_STATE');
    expect(() => runTransform(tx, params, wrong, grads)).toThrowError(/missing 'b'.*unexpected 'c'/);
    tf.dispose([params, grads, state as never]);
  });
});
