import type { LoopFactory, ParamEntry, StepContext } from '../internal/cpu-step.js';
import { emaExact, emoFinishExact, f, rootCutoff } from '../internal/float32.js';
import { blendExact, blendFast } from '../internal/shadow.js';

/**
 * The Adam element loops: EmoSens's filtered moments (also EmoAiry's vectors and scalars)
 * and AdamW's bias-corrected ones. One pass over parameter, gradient and moments (and
 * the shadow) per parameter.
 */
type Coefficients = {
  b1: number;
  oneMinusB1: number;
  b2: number;
  oneMinusB2: number;
  eps: number;
  /** The root filter's cutoff on `|g|` (0: no filter). */
  cut: number;
  factor: number;
  decay: number;
  negLr: number;
  /** AdamW's bias corrections `1 - b1^t` and `sqrt(1 - b2^t)` (1 for the Emo optimizers). */
  bc1: number;
  bc2: number;
};

function coefficients(ctx: StepContext, cut: number, bc: { bc1: number; bc2: number }): Coefficients {
  const { b1, b2, eps } = ctx.plan;
  return {
    b1: f(b1),
    oneMinusB1: f(1 - b1),
    b2: f(b2),
    oneMinusB2: f(1 - b2),
    eps: f(eps),
    cut,
    factor: ctx.factor,
    decay: ctx.decay,
    negLr: ctx.negLr,
    ...bc,
  };
}

/**
 * The filtered-Adam element loop of EmoSens (and EmoAiry's vectors), one pass, at
 * `'exact'` precision: for each entry, in the composed path's order and rounding
 * (`f` = float32), so the result is bit-identical to the composed path:
 *
 * ```
 * [shadow]  q = f(f(p*keep) + f(sh*w));  sh = f(sh + f(f(q - sh) * 0.05))      else q = p
 * m = f(f(m*b1) + f(g*(1-b1)));  v = f(f(v*b2) + f(f(g*g)*(1-b2)))
 * u = f(m / f(f(sqrt(v)) + eps)) * [|g| >= cut]
 * u = f(f(f(u*factor) + f(q*wd)) * -lr)
 * p = f(p + f(f(q - p) + u))      (= f(p + u) without a blend)
 * ```
 */
function filteredAdamExact(e: ParamEntry, m: Float32Array, v: Float32Array, k: Coefficients): void {
  const { b1, oneMinusB1, b2, oneMinusB2, eps, cut, factor, decay, negLr } = k;
  const { p, g, blend } = e;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const pi = p[i]!;
    const q = blend === undefined ? pi : blendExact(blend, i, pi);
    const mi = emaExact(m[i]!, b1, gi, oneMinusB1);
    const vi = emaExact(v[i]!, b2, f(gi * gi), oneMinusB2);
    m[i] = mi;
    v[i] = vi;
    const u = f(mi / f(f(Math.sqrt(vi)) + eps)) * (Math.abs(gi) >= cut ? 1 : 0);
    p[i] = emoFinishExact(pi, q, blend !== undefined, u, factor, decay, negLr);
  }
}

/**
 * The AdamW element loop, one pass, at `'exact'` precision (torch.optim.AdamW's order,
 * as `scaleByAdam`, rounding as the composed ops do):
 *
 * ```
 * m = f(f(m*b1) + f(g*(1-b1)));  v = f(f(v*b2) + f(f(g*g)*(1-b2)))
 * u = f(f(m / bc1) / f(f(f(sqrt(v)) / bc2) + eps))      bc1 = 1 - b1^t, bc2 = sqrt(1 - b2^t)
 * p = f(p + f(f(u + f(p*wd)) * -lr))
 * ```
 *
 * (`bc1` and `bc2` are the step's float32 scalars from {@link biasCorrections}.)
 */
function adamwExact(e: ParamEntry, m: Float32Array, v: Float32Array, k: Coefficients): void {
  const { b1, oneMinusB1, b2, oneMinusB2, eps, bc1, bc2, decay, negLr } = k;
  const { p, g } = e;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const pi = p[i]!;
    const mi = emaExact(m[i]!, b1, gi, oneMinusB1);
    const vi = emaExact(v[i]!, b2, f(gi * gi), oneMinusB2);
    m[i] = mi;
    v[i] = vi;
    const u = f(f(mi / bc1) / f(f(f(Math.sqrt(vi)) / bc2) + eps));
    p[i] = emoFinishExact(pi, pi, false, u, 1, decay, negLr);
  }
}

/**
 * Both at `'fast'` precision: an entry's arithmetic is float64, and its new parameter and
 * moments are rounded to float32 once, as they are stored. Same formulas, fewer roundings
 * (each rounding is a conversion on the loop's critical path): within the golden tolerance
 * of the composed path, and about 3x faster than `'exact'`.
 *
 * ```
 * [shadow]  q = p*keep + sh*w;  sh = sh + (q - sh) * 0.05      else q = p
 * m = m*b1 + g*(1-b1);  v = v*b2 + g*g*(1-b2)
 * u = m / (sqrt(v)/bc2 + eps) * [|g| >= cut];   p = q * (1 - lr*wd) + u * (factor * -lr / bc1)
 * ```
 */
function adamLoopFast(e: ParamEntry, m: Float32Array, v: Float32Array, k: Coefficients): void {
  // p + (u*factor + p*wd) * -lr, as p * keep + u * scale (and wd = 0 gives keep = 1 exactly)
  const keep = 1 + k.decay * k.negLr;
  const scale = (k.factor * k.negLr) / k.bc1;
  const rootScale = 1 / k.bc2;
  const { p, g, blend } = e;
  if (blend === undefined) adamFast(p, g, m, v, k.b1, k.oneMinusB1, k.b2, k.oneMinusB2, k.eps, k.cut, keep, scale, rootScale);
  else adamFastBlend(p, g, m, v, blend.shadow, blend.weight, blend.keep, k.b1, k.oneMinusB1, k.b2, k.oneMinusB2, k.eps, k.cut, keep, scale, rootScale);
}

// The hot loops take their constants as arguments (V8 keeps them in registers) and
// test the filter with a branch: nearly every entry passes, or whole runs do not.
function adamFast(
  p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
  b1: number, oneMinusB1: number, b2: number, oneMinusB2: number, eps: number, cut: number, keep: number, scale: number, rootScale: number,
): void {
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const mi = m[i]! * b1 + gi * oneMinusB1;
    const vi = v[i]! * b2 + gi * gi * oneMinusB2;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i]! * keep + (mi / (Math.sqrt(vi) * rootScale + eps)) * (Math.abs(gi) >= cut ? scale : 0);
  }
}

function adamFastBlend(
  p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, shadow: Float32Array, weight: number, stay: number,
  b1: number, oneMinusB1: number, b2: number, oneMinusB2: number, eps: number, cut: number, keep: number, scale: number, rootScale: number,
): void {
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const q = blendFast(shadow, i, p[i]!, stay, weight);
    const mi = m[i]! * b1 + gi * oneMinusB1;
    const vi = v[i]! * b2 + gi * gi * oneMinusB2;
    m[i] = mi;
    v[i] = vi;
    p[i] = q * keep + (mi / (Math.sqrt(vi) * rootScale + eps)) * (Math.abs(gi) >= cut ? scale : 0);
  }
}

/**
 * The bias corrections of step `t = count + 1` as `scaleByAdam` computes them on the
 * device (`biasCorrection` of `@emosens/moments`), float32 after each op:
 * `bc1 = -expm1(t * ln b1)`, `bc2 = sqrt(-expm1(t * ln b2))`. tfjs's cpu `expm1` is
 * `Math.expm1` stored in a Float32Array, so these are the composed path's values to the bit.
 */
function biasCorrections(count: number, b1: number, b2: number): { bc1: number; bc2: number } {
  const t = f(count + 1);
  const correction = (beta: number) => -f(Math.expm1(f(t * f(Math.log(beta)))));
  return { bc1: correction(b1), bc2: f(Math.sqrt(correction(b2))) };
}

const NO_CORRECTION = { bc1: 1, bc2: 1 };

function filteredAdam(statistic: 'abs' | 'square'): LoopFactory {
  return (ctx) => {
    const k = coefficients(ctx, rootCutoff(ctx.threshold, statistic), NO_CORRECTION);
    const loop = ctx.exact ? filteredAdamExact : adamLoopFast;
    return (e, [m, v]) => loop(e, m!, v!, k);
  };
}

/**
 * Filtered Adam moments without bias correction (EmoSens; the root filter's statistic
 * `|g|`, kept when `|g|^(1/3) >= threshold`).
 */
export const emoSensAdamLoop: LoopFactory = filteredAdam('abs');

/** The same for EmoAiry's vectors and scalars (kept when `(g^2)^(1/3) > threshold`). */
export const emoAiryAdamLoop: LoopFactory = filteredAdam('square');

/** AdamW (and Adam, weight decay 0): bias-corrected moments, no filter, decoupled decay. */
export const adamwLoop: LoopFactory = (ctx) => {
  const k = coefficients(ctx, 0, biasCorrections(ctx.count, ctx.plan.b1, ctx.plan.b2));
  if (ctx.exact) return (e, [m, v]) => adamwExact(e, m!, v!, k);
  return (e, [m, v]) => adamLoopFast(e, m!, v!, k);
};
