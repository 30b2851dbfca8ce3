import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { EmosensError, chain } from '@emosens/core';
import { momentumSgd } from './helpers.js';
import { TransformOptimizer, adam, createOptimizer, emoCats, emoSens, sgd } from '../src/index.js';

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof EmosensError ? e.code : `not an EmosensError: ${String(e)}`;
  }
  return undefined;
};

describe('the ready-made factories refuse what is not an options object', () => {
  it('emoSens(null) throws a named EmosensError, not a TypeError', () => {
    expect(codeOf(() => emoSens(null as never))).toBe('INVALID_OPTION');
    expect(() => emoSens(null as never)).toThrowError(/emoSens: options must be an object, got null/);
    expect(() => adam('fast' as never)).toThrowError(/adam: options must be an object, got a string \('fast'\)/);
  });
});

describe('adapter options are validated', () => {
  it("fused: 'yes' is refused, naming the option and what it got", () => {
    expect(codeOf(() => emoSens({ fused: 'yes' as never }))).toBe('INVALID_OPTION');
    expect(() => emoSens({ fused: 'yes' as never })).toThrowError(/TransformOptimizer: option 'fused' must be true or false, got a string \('yes'\)/);
    expect(() => new TransformOptimizer(chain(momentumSgd()), { fused: 1 as never })).toThrowError(/option 'fused' must be true or false, got 1/);
    expect(() => createOptimizer('sgd', {}, { fused: 'no' as never })).toThrowError(/option 'fused'/);
  });

  it('onNonFinite must be one of the policies, and says what it got', () => {
    expect(() => sgd({ onNonFinite: 'ignore' as never })).toThrowError(/option 'onNonFinite' must be one of 'skip', 'skipExact', 'throw', got a string \('ignore'\)/);
    expect(() => sgd({ onNonFinite: null as never })).toThrowError(/option 'onNonFinite' must be one of .*, got null/);
  });

  it('unknown adapter options of a custom TransformOptimizer are refused; the ready-made ones pass them to the optimizer, which refuses them', () => {
    expect(() => new TransformOptimizer(chain(momentumSgd()), { fuse: true } as never)).toThrowError(
      /TransformOptimizer: unknown option 'fuse'; known options: onNonFinite, fused, source/,
    );
    expect(() => emoCats({ fuse: true } as never)).toThrowError(/emoCats: unknown option 'fuse'/);
    expect(() => new TransformOptimizer(chain(momentumSgd()), null as never)).toThrowError(/TransformOptimizer: options must be an object, got null/);
  });

  it('valid adapter options still work', () => {
    const opt = emoSens({ fused: false, onNonFinite: 'throw' });
    expect(opt.onNonFinite).toBe('throw');
    expect(opt.getConfig()['fused']).toBe(false);
    opt.dispose();
    expect(tf.memory().numTensors).toBeGreaterThanOrEqual(0);
  });
});
