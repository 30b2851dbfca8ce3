import type { FusedKernel, StateValue } from '@emosens/core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { Scratch } from '../internal/cpu-storage.js';
import { onCpu, runEmoStep, type EmoDirection, type EmoStepContext, type ParamEntry } from '../internal/emo-step.js';
import { readMoments, stepFilteredAdam, type MomentsState } from '../internal/filtered-adam.js';
import { f, ROOT_POWER } from '../internal/float32.js';
import { SHADOW_FOLLOW } from '../internal/shadow.js';
import type { Precision } from '../internal/options.js';
import { EMO_AIRY } from '../kernel-keys.js';

type Obj = { readonly [key: string]: StateValue };

const name = `${EMO_AIRY}/cpu`;

interface AiryState {
  readonly raw: Obj;
  readonly factoredRaw: Obj;
  /** Row and column averages of the rank >= 2 parameters with gradients, in gradient order. */
  readonly factored: readonly { readonly row: Tensor; readonly col: Tensor }[];
  readonly dense: MomentsState;
}

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
function factoredLoop(e: ParamEntry, rowAvg: Float32Array, colAvg: Float32Array, k: Coefficients, exact: boolean): void {
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
    rowAvg[i] = f(f(rowAvg[i]! * b1) + f(f(Math.sqrt(r)) * oneMinusB1));
    rowPass[i] = f(Math.pow(r, ROOT_POWER)) > threshold ? 1 : 0;
  }
  for (let j = 0; j < cols; j++) {
    const c = f(f(colSum[j]!) + eps);
    colAvg[j] = f(f(colAvg[j]! * b1) + f(f(Math.sqrt(c)) * oneMinusB1));
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
      let q = pi;
      if (blend !== undefined) {
        const si = blend.shadow[x]!;
        q = f(f(pi * blend.keep) + f(si * blend.weight));
        blend.shadow[x] = f(si + f(f(q - si) * SHADOW_FOLLOW));
      }
      let u = f(g[x]! / f(f(Math.sqrt(f(ri * colAvg[j]!))) + eps)) * (rp * colPass[j]!);
      u = f(u * factor);
      if (decay !== 0) u = f(u + f(q * decay));
      p[x] = blend === undefined ? f(pi + f(u * negLr)) : f(pi + f(f(q - pi) + f(u * negLr)));
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
        const si = blend.shadow[x]!;
        const q = p[x]! * blend.keep + si * blend.weight;
        blend.shadow[x] = si + (q - si) * SHADOW_FOLLOW;
        p[x] = q * keep + (g[x]! / (ri * colRoot[j]! + eps)) * (rowScale * colPass[j]!);
      }
    }
  }
}

function stepFactored(ctx: EmoStepContext, entries: readonly ParamEntry[], state: AiryState): Obj {
  const { b1, eps } = ctx.hyper;
  const k: Coefficients = {
    b1: f(b1),
    oneMinusB1: f(1 - b1),
    eps: f(eps),
    threshold: ctx.threshold,
    factor: ctx.factor,
    decay: ctx.decay,
    negLr: ctx.negLr,
  };
  const next: Record<string, StateValue> = {};
  entries.forEach((e, i) => {
    const slot = state.factored[i]!;
    const row = ctx.storage.writable(slot.row);
    const col = ctx.storage.writable(slot.col);
    factoredLoop(e, ctx.storage.values(row), ctx.storage.values(col), k, ctx.exact);
    next[e.name] = { ...(state.factoredRaw[e.name] as Obj), row, col };
  });
  return { ...state.factoredRaw, ...next };
}

const isFactored = (shape: readonly number[]) => shape.length >= 2;

/**
 * EmoAiry's direction: `partition({ factored, dense })` by rank. Rank >= 2 parameters
 * get factored row/column moments and the row/column filter; vectors and scalars get
 * EmoSens's moments with the strict `(g^2)^(1/3)` filter.
 */
const direction: EmoDirection<AiryState> = {
  read(value, path, names, shapes, read, backend) {
    const raw = read.object(value, path);
    const factoredRaw = read.object(raw.factored, `${path}/factored`);
    const factored = names.flatMap((n, i) => {
      const shape = shapes[i]!;
      if (!isFactored(shape)) return [];
      const slot = read.object(factoredRaw[n], `${path}/factored/${n}`);
      return [{
        row: read.tensor(slot.row, `${path}/factored/${n}/row`, [shape[0]!]),
        col: read.tensor(slot.col, `${path}/factored/${n}/col`, shape.slice(1)),
      }];
    });
    const denseNames = names.filter((_, i) => !isFactored(shapes[i]!));
    const denseShapes = shapes.filter((s) => !isFactored(s));
    const dense = readMoments(raw.dense, `${path}/dense`, denseNames, denseShapes, read, backend);
    return { raw, factoredRaw, factored, dense };
  },
  update(ctx, state) {
    const factored = stepFactored(ctx, ctx.entries.filter((e) => isFactored(e.shape)), state);
    const dense = stepFilteredAdam(ctx, ctx.entries.filter((e) => !isFactored(e.shape)), state.dense, 'square');
    return { ...state.raw, factored, dense };
  },
};

/**
 * EmoAiry on the cpu backend: the whole step of `emoAiry(options)`; factored
 * parameters take two passes over the gradient and one over the parameter, vectors one.
 */
export function createEmoAiryCpuKernel(precision: Precision): FusedKernel {
  return { name, supports: onCpu, guardsNonFinite: true, step: (args) => runEmoStep(name, direction, precision, args) };
}
