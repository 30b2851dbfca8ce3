import type { LoopFactory, ParamEntry } from '../internal/cpu-step.js';
import { emaExact, emoFinishExact, f, rootCutoff, sign } from '../internal/float32.js';
import { blendExact, blendFast } from '../internal/shadow.js';

type Coefficients = { b1: number; oneMinusB1: number; b2: number; oneMinusB2: number; cut: number; factor: number; decay: number; negLr: number };

/**
 * The EmoCats element loop, one pass, at `'exact'` precision (the composed rounding):
 *
 * ```
 * u = sign(f(f(g*(1-b1)) + f(m*b1))) * [|g| >= cut];   m = f(f(m*b2) + f(g*(1-b2)))
 * u = f(f(f(u*factor) + f(q*wd')) * -lr);   p = f(p + u)   (q, shadow: as EmoSens)
 * ```
 */
function emoCatsLoopExact(e: ParamEntry, m: Float32Array, k: Coefficients): void {
  const { b1, oneMinusB1, b2, oneMinusB2, cut, factor, decay, negLr } = k;
  const { p, g, blend } = e;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const mi = m[i]!;
    const pi = p[i]!;
    const q = blend === undefined ? pi : blendExact(blend, i, pi);
    const u = sign(emaExact(mi, b1, gi, oneMinusB1)) * (Math.abs(gi) >= cut ? 1 : 0);
    m[i] = emaExact(mi, b2, gi, oneMinusB2);
    p[i] = emoFinishExact(pi, q, blend !== undefined, u, factor, decay, negLr);
  }
}

/**
 * The same at `'fast'` precision: the sign's argument keeps the composed rounding (so
 * the sign agrees even where the two terms nearly cancel); the rest is float64 until
 * stored: `p = q * (1 - lr*wd') + sign(...) * [|g| >= cut] * (factor * -lr)`.
 */
function emoCatsLoopFast(e: ParamEntry, m: Float32Array, k: Coefficients): void {
  const { b1, oneMinusB1, b2, oneMinusB2, cut } = k;
  const { p, g, blend } = e;
  const keep = 1 + k.decay * k.negLr;
  const scale = k.factor * k.negLr;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const mi = m[i]!;
    const u = sign(emaExact(mi, b1, gi, oneMinusB1)) * (Math.abs(gi) >= cut ? scale : 0);
    m[i] = mi * b2 + gi * oneMinusB2;
    if (blend === undefined) {
      p[i] = p[i]! * keep + u;
    } else {
      p[i] = blendFast(blend.shadow, i, p[i]!, blend.keep, blend.weight) * keep + u;
    }
  }
}

/**
 * EmoCats's direction `rootFiltered(chain(scaleByLionMoment(), scaleBySign()))` (the plan's
 * state `[moment]`). The decay in the plan already includes the `decoupledWeightDecay`
 * division by lr.
 */
export const emoCatsLoop: LoopFactory = (ctx) => {
  const { b1, b2 } = ctx.plan;
  const k: Coefficients = {
    b1: f(b1),
    oneMinusB1: f(1 - b1),
    b2: f(b2),
    oneMinusB2: f(1 - b2),
    cut: rootCutoff(ctx.threshold, 'abs'),
    factor: ctx.factor,
    decay: ctx.decay,
    negLr: ctx.negLr,
  };
  const loop = ctx.exact ? emoCatsLoopExact : emoCatsLoopFast;
  return (e, [m]) => loop(e, m!, k);
};
