import type { FusedKernel, StateValue } from '@emosens/core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { Scratch } from '../internal/cpu-storage.js';
import { onCpu, runEmoStep, type EmoDirection, type EmoStepContext, type ParamEntry } from '../internal/emo-step.js';
import { readMoments, stepFilteredAdam, type MomentsState } from '../internal/filtered-adam.js';
import { f, ROOT_POWER } from '../internal/float32.js';
import { SHADOW_FOLLOW, type ShadowBlend } from '../internal/shadow.js';
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

/**
 * The factored EmoAiry step of one rank >= 2 parameter, seen as `[rows, cols]` with
 * `cols = d1 * ... * dn`. Two passes over the gradient (the statistics need all of it
 * before any entry can be updated), then one over the parameter:
 *
 * ```
 * r_i = f(f(sum_j f(f(g*g) / cols)) + eps)      c_j = f(f(sum_i f(f(g*g) / rows)) + eps)
 * R_i = f(f(R_i*b1) + f(f(sqrt(r_i))*(1-b1)))   C_j likewise
 * u   = f(g / f(f(sqrt(f(R_i*C_j))) + eps)) * [f(r_i^(1/3)) > thr] * [f(c_j^(1/3)) > thr]
 * ```
 *
 * then the cooled step, decay, learning rate and shadow blend as in EmoSens. The sums
 * run in float64 in the order tfjs's cpu `mean` adds them, so they match exactly.
 */
function factoredLoop(
  e: ParamEntry,
  rowAvg: Float32Array,
  colAvg: Float32Array,
  k: { b1: number; oneMinusB1: number; eps: number; threshold: number; factor: number; decay: number; negLr: number },
): void {
  const { b1, oneMinusB1, eps, threshold, factor, decay, negLr } = k;
  const { p, g } = e;
  const rows = rowAvg.length;
  const cols = colAvg.length;
  const rowsF = f(rows);
  const colsF = f(cols);
  const rowSum = rowScratch.float64(rows);
  const colSum = colScratch.float64(cols);
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
  // Averages in place; the sums' arrays now hold each row's and column's filter pass (0/1).
  for (let i = 0; i < rows; i++) {
    const r = f(f(rowSum[i]!) + eps);
    rowAvg[i] = f(f(rowAvg[i]! * b1) + f(f(Math.sqrt(r)) * oneMinusB1));
    rowSum[i] = f(Math.pow(r, ROOT_POWER)) > threshold ? 1 : 0;
  }
  for (let j = 0; j < cols; j++) {
    const c = f(f(colSum[j]!) + eps);
    colAvg[j] = f(f(colAvg[j]! * b1) + f(f(Math.sqrt(c)) * oneMinusB1));
    colSum[j] = f(Math.pow(c, ROOT_POWER)) > threshold ? 1 : 0;
  }
  const blend: ShadowBlend | undefined = e.blend;
  for (let i = 0, o = 0; i < rows; i++, o += cols) {
    const ri = rowAvg[i]!;
    const rowPass = rowSum[i]!;
    for (let j = 0; j < cols; j++) {
      const x = o + j;
      const pi = p[x]!;
      let q = pi;
      if (blend !== undefined) {
        const si = blend.shadow[x]!;
        q = f(f(pi * blend.keep) + f(si * blend.weight));
        blend.shadow[x] = f(si + f(f(q - si) * SHADOW_FOLLOW));
      }
      let u = f(g[x]! / f(f(Math.sqrt(f(ri * colAvg[j]!))) + eps)) * (rowPass * colSum[j]!);
      u = f(u * factor);
      if (decay !== 0) u = f(u + f(q * decay));
      p[x] = blend === undefined ? f(pi + f(u * negLr)) : f(pi + f(f(q - pi) + f(u * negLr)));
    }
  }
}

function stepFactored(ctx: EmoStepContext, entries: readonly ParamEntry[], state: AiryState): Obj {
  const { b1, eps } = ctx.hyper;
  const k = {
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
    factoredLoop(e, ctx.storage.values(row), ctx.storage.values(col), k);
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
  read(value, path, names, shapes, read) {
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
    const dense = readMoments(raw.dense, `${path}/dense`, denseNames, denseShapes, read);
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
export const emoAiryCpuKernel: FusedKernel = {
  name,
  supports: onCpu,
  step: (args) => runEmoStep(name, direction, args),
};
