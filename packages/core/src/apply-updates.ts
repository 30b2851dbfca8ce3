import { add, tidy, type Tensor, type Variable } from '@tensorflow/tfjs-core';
import type { Params, Updates } from './types.js';

/**
 * Adds updates to parameters: `p <- p + u` for each parameter that has an update.
 *
 * A `tf.Variable` is updated in place with `assign`, and the same variable is returned;
 * a plain tensor gets a new tensor (the caller owns it; the old one is not disposed).
 */
export function applyUpdates<P extends Params>(params: P, updates: Updates): P {
  const out: Record<string, Tensor> = { ...params };
  for (const [name, u] of Object.entries(updates)) {
    const p = params[name];
    if (p === undefined) continue;
    if (isVariable(p)) {
      tidy(() => p.assign(add(p, u)));
    } else {
      out[name] = add(p, u);
    }
  }
  return out as P;
}

function isVariable(t: Tensor): t is Variable {
  return typeof (t as Partial<Variable>).assign === 'function';
}
