import type { FusedKernel, StateValue } from '@emosens/core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { onCpu, runEmoStep, type EmoDirection } from '../internal/emo-step.js';
import { f, rootCutoff, sign } from '../internal/float32.js';
import { SHADOW_FOLLOW, type ShadowBlend } from '../internal/shadow.js';
import type { Precision } from '../internal/options.js';
import { EMO_CATS } from '../kernel-keys.js';

type Obj = { readonly [key: string]: StateValue };

const name = `${EMO_CATS}/cpu`;

interface CatsState {
  /** The direction chain's state `[lionMoment, sign]`. */
  readonly raw: readonly StateValue[];
  readonly moments: Obj;
  readonly m: readonly Tensor[];
}

type Coefficients = { b1: number; oneMinusB1: number; b2: number; oneMinusB2: number; cut: number; factor: number; decay: number; negLr: number };

/**
 * The EmoCats element loop, one pass, at `'exact'` precision (the composed rounding):
 *
 * ```
 * u = sign(f(f(g*(1-b1)) + f(m*b1))) * [|g| >= cut];   m = f(f(m*b2) + f(g*(1-b2)))
 * u = f(f(f(u*factor) + f(q*wd')) * -lr);   p = f(p + u)   (q, shadow: as EmoSens)
 * ```
 */
function emoCatsLoopExact(p: Float32Array, g: Float32Array, m: Float32Array, blend: ShadowBlend | undefined, k: Coefficients): void {
  const { b1, oneMinusB1, b2, oneMinusB2, cut, factor, decay, negLr } = k;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const mi = m[i]!;
    const pi = p[i]!;
    let q = pi;
    if (blend !== undefined) {
      const si = blend.shadow[i]!;
      q = f(f(pi * blend.keep) + f(si * blend.weight));
      blend.shadow[i] = f(si + f(f(q - si) * SHADOW_FOLLOW));
    }
    let u = sign(f(f(gi * oneMinusB1) + f(mi * b1))) * (Math.abs(gi) >= cut ? 1 : 0);
    m[i] = f(f(mi * b2) + f(gi * oneMinusB2));
    u = f(u * factor);
    if (decay !== 0) u = f(u + f(q * decay));
    p[i] = blend === undefined ? f(pi + f(u * negLr)) : f(pi + f(f(q - pi) + f(u * negLr)));
  }
}

/**
 * The same at `'fast'` precision: the sign's argument keeps the composed rounding (so
 * the sign agrees even where the two terms nearly cancel); the rest is float64 until
 * stored: `p = q * (1 - lr*wd') + sign(...) * [|g| >= cut] * (factor * -lr)`.
 */
function emoCatsLoopFast(p: Float32Array, g: Float32Array, m: Float32Array, blend: ShadowBlend | undefined, k: Coefficients): void {
  const { b1, oneMinusB1, b2, oneMinusB2, cut } = k;
  const keep = 1 + k.decay * k.negLr;
  const scale = k.factor * k.negLr;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const mi = m[i]!;
    const u = sign(f(f(gi * oneMinusB1) + f(mi * b1))) * (Math.abs(gi) >= cut ? scale : 0);
    m[i] = mi * b2 + gi * oneMinusB2;
    if (blend === undefined) {
      p[i] = p[i]! * keep + u;
    } else {
      const si = blend.shadow[i]!;
      const q = p[i]! * blend.keep + si * blend.weight;
      blend.shadow[i] = si + (q - si) * SHADOW_FOLLOW;
      p[i] = q * keep + u;
    }
  }
}

/** EmoCats's direction: `rootFiltered(chain(scaleByLionMoment(), scaleBySign()))`. */
const direction: EmoDirection<CatsState> = {
  read(value, path, names, shapes, read) {
    const raw = read.array(value, path);
    const moments = read.object(raw[0], `${path}/0`);
    return { raw, moments, m: names.map((n, i) => read.tensor(moments[n], `${path}/0/${n}`, shapes[i])) };
  },
  update(ctx, state) {
    const { b1, b2 } = ctx.hyper;
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
    const next: Record<string, Tensor> = {};
    ctx.entries.forEach((e, i) => {
      const m = ctx.storage.writable(state.m[i]!);
      loop(e.p, e.g, ctx.storage.values(m), e.blend, k);
      next[e.name] = m;
    });
    return [{ ...state.moments, ...next }, ...state.raw.slice(1)];
  },
};

/**
 * EmoCats on the cpu backend: the whole step of `emoCats(options)` in one pass over
 * each parameter's arrays, in place. The decay in `fused.options` already includes the
 * `decoupledWeightDecay` division by lr.
 */
export function createEmoCatsCpuKernel(precision: Precision): FusedKernel {
  return { name, supports: onCpu, guardsNonFinite: true, step: (args) => runEmoStep(name, direction, precision, args) };
}
