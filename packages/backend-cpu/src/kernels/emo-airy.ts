import type { LoopFactory, ParamEntry } from '../internal/cpu-step.js';
import { Scratch } from '../internal/cpu-storage.js';
import { emaExact, emoFinishExact, f, ROOT_POWER } from '../internal/float32.js';
import { blendExact, blendFast } from '../internal/shadow.js';

const rowScratch = new Scratch();
const colScratch = new Scratch();
const rowPassScratch = new Scratch();
const colPassScratch = new Scratch();

type Coefficients = { b1: number; oneMinusB1: number; eps: number; threshold: number; factor: number; decay: number; negLr: number };

/**
 * The factored EmoAiry step of one rank >= 2 parameter, seen as `[rows, cols]` with
 * `cols = d1 * ... * dn`. Two passes over the gradient (the statistics need all of it
 * before any entry can be updated), then one over the parameter:
 *
 * ```
 * r_i = mean_j(g^2) + eps                       c_j = mean_i(g^2) + eps
 * R_i = R_i*b1 + sqrt(r_i)*(1-b1)               C_j likewise
 * u   = g / (sqrt(R_i*C_j) + eps) * [r_i^(1/3) > thr] * [c_j^(1/3) > thr]
 * ```
 *
 * then the cooled step, decay, learning rate and shadow blend as in EmoSens. At
 * `'exact'` precision every operation rounds to float32 as the composed ops do (the
 * means are sums in float64 of `f(g^2 / count)`, in the order tfjs's cpu `mean` adds
 * them); at `'fast'` precision the sums are of `g^2`, divided once, and an entry's
 * arithmetic is float64 with `sqrt(R_i*C_j)` as `sqrt(R_i)*sqrt(C_j)`.
 */
function factoredStep(e: ParamEntry, rowAvg: Float32Array, colAvg: Float32Array, k: Coefficients, exact: boolean): void {
  const { b1, oneMinusB1, eps, threshold } = k;
  const g = e.g;
  const rows = rowAvg.length;
  const cols = colAvg.length;
  const rowsF = f(rows);
  const colsF = f(cols);
  const rowSum = rowScratch.float64(rows);
  const colSum = colScratch.float64(cols);
  if (exact) {
    for (let i = 0, o = 0; i < rows; i++, o += cols) {
      let sum = 0;
      for (let j = 0; j < cols; j++) {
        const gi = g[o + j]!;
        const sq = f(gi * gi);
        sum += f(sq / colsF);
        colSum[j]! += f(sq / rowsF);
      }
      rowSum[i] = sum;
    }
  } else {
    for (let i = 0, o = 0; i < rows; i++, o += cols) {
      let sum = 0;
      for (let j = 0; j < cols; j++) {
        const gi = g[o + j]!;
        const sq = gi * gi;
        sum += sq;
        colSum[j]! += sq;
      }
      rowSum[i] = sum / cols;
    }
    for (let j = 0; j < cols; j++) colSum[j] = colSum[j]! / rows;
  }
  // Averages in place; each row's and column's filter pass (0/1) beside them.
  const rowPass = rowPassScratch.float64(rows);
  const colPass = colPassScratch.float64(cols);
  for (let i = 0; i < rows; i++) {
    const r = f(f(rowSum[i]!) + eps);
    rowAvg[i] = emaExact(rowAvg[i]!, b1, f(Math.sqrt(r)), oneMinusB1);
    rowPass[i] = f(Math.pow(r, ROOT_POWER)) > threshold ? 1 : 0;
  }
  for (let j = 0; j < cols; j++) {
    const c = f(f(colSum[j]!) + eps);
    colAvg[j] = emaExact(colAvg[j]!, b1, f(Math.sqrt(c)), oneMinusB1);
    colPass[j] = f(Math.pow(c, ROOT_POWER)) > threshold ? 1 : 0;
  }
  if (exact) {
    factoredUpdateExact(e, rowAvg, colAvg, rowPass, colPass, k);
  } else {
    // the sums' arrays now hold the roots of the averages
    for (let i = 0; i < rows; i++) rowSum[i] = Math.sqrt(rowAvg[i]!);
    for (let j = 0; j < cols; j++) colSum[j] = Math.sqrt(colAvg[j]!);
    factoredUpdateFast(e, rowSum, colSum, rowPass, colPass, k);
  }
}

function factoredUpdateExact(e: ParamEntry, rowAvg: Float32Array, colAvg: Float32Array, rowPass: Float64Array, colPass: Float64Array, k: Coefficients): void {
  const { eps, factor, decay, negLr } = k;
  const { p, g, blend } = e;
  const rows = rowAvg.length;
  const cols = colAvg.length;
  for (let i = 0, o = 0; i < rows; i++, o += cols) {
    const ri = rowAvg[i]!;
    const rp = rowPass[i]!;
    for (let j = 0; j < cols; j++) {
      const x = o + j;
      const pi = p[x]!;
      const q = blend === undefined ? pi : blendExact(blend, x, pi);
      const u = f(g[x]! / f(f(Math.sqrt(f(ri * colAvg[j]!))) + eps)) * (rp * colPass[j]!);
      p[x] = emoFinishExact(pi, q, blend !== undefined, u, factor, decay, negLr);
    }
  }
}

function factoredUpdateFast(
  e: ParamEntry,
  rowRoot: Float64Array,
  colRoot: Float64Array,
  rowPass: Float64Array,
  colPass: Float64Array,
  k: Coefficients,
): void {
  const { eps } = k;
  const keep = 1 + k.decay * k.negLr;
  const scale = k.factor * k.negLr;
  const { p, g, blend } = e;
  const rows = rowRoot.length;
  const cols = colRoot.length;
  for (let i = 0, o = 0; i < rows; i++, o += cols) {
    const ri = rowRoot[i]!;
    const rowScale = rowPass[i]! * scale;
    if (blend === undefined) {
      for (let j = 0; j < cols; j++) {
        const x = o + j;
        p[x] = p[x]! * keep + (g[x]! / (ri * colRoot[j]! + eps)) * (rowScale * colPass[j]!);
      }
    } else {
      for (let j = 0; j < cols; j++) {
        const x = o + j;
        const q = blendFast(blend.shadow, x, p[x]!, blend.keep, blend.weight);
        p[x] = q * keep + (g[x]! / (ri * colRoot[j]! + eps)) * (rowScale * colPass[j]!);
      }
    }
  }
}

/**
 * EmoAiry's factored direction (rank >= 2 parameters; the plan's state `[row, col]`):
 * row/column second moments and the row/column filter. Its vectors and scalars take the
 * filtered Adam loop (`emoAiryAdamLoop`).
 */
export const emoAiryFactoredLoop: LoopFactory = (ctx) => {
  const k: Coefficients = {
    b1: f(ctx.plan.b1),
    oneMinusB1: f(1 - ctx.plan.b1),
    eps: f(ctx.plan.eps),
    threshold: ctx.threshold,
    factor: ctx.factor,
    decay: ctx.decay,
    negLr: ctx.negLr,
  };
  return (e, [row, col]) => factoredStep(e, row!, col!, k, ctx.exact);
};
