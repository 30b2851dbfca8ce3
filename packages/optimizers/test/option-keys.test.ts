import { describe, expect, it } from 'vitest';
import { EmosensError } from '@emosens/core';
import * as optimizers from '../src/index.js';
import { adam, emoAiry, emoCats, emoSens } from '../src/index.js';

// Every ready-made optimizer of the package, by name.
const READY_MADE = Object.entries(optimizers).filter(([, v]) => typeof v === 'function') as [string, (o?: unknown) => unknown][];

describe('options that mean nothing for an optimizer are refused', () => {
  it('decoupledWeightDecay is refused on emoSens and emoAiry (it is emoCats-only)', () => {
    expect(() => emoSens({ decoupledWeightDecay: true } as never)).toThrowError(/emoSens: unknown option 'decoupledWeightDecay'/);
    expect(() => emoAiry({ decoupledWeightDecay: false } as never)).toThrowError(/emoAiry: unknown option 'decoupledWeightDecay'/);
    expect(() => emoCats({ decoupledWeightDecay: true })).not.toThrow();
  });

  it("'known options' lists only the optimizer's own options", () => {
    expect(() => emoSens({ foo: 1 } as never)).toThrowError(/emoSens: unknown option 'foo'; known options: lr, betas, eps, weightDecay, useShadow\.$/);
    expect(() => emoCats({ foo: 1 } as never)).toThrowError(/emoCats: unknown option 'foo'; known options: lr, betas, eps, weightDecay, useShadow, decoupledWeightDecay\.$/);
    expect(() => adam({ useShadow: true } as never)).toThrowError(/adam: unknown option 'useShadow'; known options: lr, betas, eps, weightDecay, amsgrad\./);
  });

  it('every ready-made optimizer refuses an unknown option and a non-object through the shared checkOptionKeys', () => {
    expect(READY_MADE.length).toBeGreaterThanOrEqual(19);
    for (const [name, make] of READY_MADE) {
      expect(() => make({ notAnOption: 1 }), name).toThrowError(new RegExp(`^${name}: unknown option 'notAnOption'; known options: `));
      expect(() => make(null), name).toThrowError(new RegExp(`^${name}: options must be an object, got null\\.$`));
      expect(() => make(null), name).toThrowError(EmosensError);
      expect(() => make('fast'), name).toThrowError(/options must be an object, got a string \('fast'\)/);
    }
  });

  it("a string lr says it got a string: emoSens({ lr: '0.01' })", () => {
    expect(() => emoSens({ lr: '0.01' } as never)).toThrowError(/emoSens: option 'lr' must be a finite number, got a string \('0\.01'\)/);
    expect(() => adam({ lr: '0.01' } as never)).toThrowError(/adam: option 'lr' must be a finite number, got a string \('0\.01'\)/);
  });
});
