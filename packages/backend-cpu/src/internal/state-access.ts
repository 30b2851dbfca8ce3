import { EmosensError, isTensor, type StateValue } from '@emosens/core';
import type { Tensor } from '@tensorflow/tfjs-core';

type Obj = { readonly [key: string]: StateValue };

/**
 * Typed reads of a composed state tree by path, failing with `INVALID_STATE` that
 * names the kernel and the path, so a state of the wrong layout is refused before
 * anything is written.
 */
export class StateReader {
  constructor(private readonly kernel: string) {}

  /** Throws `INVALID_STATE` for `path`, saying what was expected there. */
  fail(path: string, expected: string): never {
    throw new EmosensError('INVALID_STATE', `${this.kernel}: state at '${path}' must be ${expected} (the layout of the composed optimizer's init).`);
  }

  object(value: StateValue | undefined, path: string): Obj {
    if (typeof value !== 'object' || value === null || isTensor(value)) this.fail(path, 'an object');
    return value as Obj;
  }

  array(value: StateValue | undefined, path: string): readonly StateValue[] {
    if (!Array.isArray(value)) this.fail(path, 'an array');
    return value as readonly StateValue[];
  }

  tensor(value: StateValue | undefined, path: string, shape?: readonly number[]): Tensor {
    if (!isTensor(value)) this.fail(path, 'a tensor');
    const t = value as Tensor;
    if (shape !== undefined && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
      this.fail(path, `a tensor of shape [${shape.join(', ')}] (got [${t.shape.join(', ')}])`);
    }
    return t;
  }
}
