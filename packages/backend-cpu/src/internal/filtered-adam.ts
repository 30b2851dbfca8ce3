import type { StateValue } from '@emosens/core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { EmoStepContext } from './emo-step.js';
import { f, rootCutoff } from './float32.js';
import { SHADOW_FOLLOW, type ShadowBlend } from './shadow.js';
import type { StateReader } from './state-access.js';
import { advanceStepCount, readStepCount, type StepCount } from './step-count.js';

type Obj = { readonly [key: string]: StateValue };

/** Adam moments (`scaleByAdam`'s state) as read before a step. */
export interface MomentsState {
  readonly raw: Obj;
  /** Updates seen so far (a float32 scalar tensor) and its value. */
  readonly count: StepCount;
  readonly mu: Obj;
  readonly nu: Obj;
  readonly m: readonly Tensor[];
  readonly v: readonly Tensor[];
}

/** Reads `{ count, mu: { <p> }, nu: { <p> } }` for the parameters with gradients. */
export function readMoments(
  value: StateValue | undefined,
  path: string,
  names: readonly string[],
  shapes: readonly (readonly number[])[],
  read: StateReader,
  backend: MathBackendCPU,
): MomentsState {
  const raw = read.object(value, path);
  const mu = read.object(raw.mu, `${path}/mu`);
  const nu = read.object(raw.nu, `${path}/nu`);
  return {
    raw,
    count: readStepCount(backend, raw.count, `${path}/count`, read),
    mu,
    nu,
    m: names.map((n, i) => read.tensor(mu[n], `${path}/mu/${n}`, shapes[i])),
    v: names.map((n, i) => read.tensor(nu[n], `${path}/nu/${n}`, shapes[i])),
  };
}

/**
 * Runs `loop` for each of `entries` (in the order the state was read) on writable
 * moment buffers and returns the moments' next state (count + 1, same layout).
 */
function updateMoments(
  ctx: EmoStepContext,
  entries: EmoStepContext['entries'],
  state: MomentsState,
  loop: (p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, blend: ShadowBlend | undefined) => void,
): StateValue {
  const mu: Record<string, Tensor> = {};
  const nu: Record<string, Tensor> = {};
  entries.forEach((e, i) => {
    const m = ctx.storage.writable(state.m[i]!);
    const v = ctx.storage.writable(state.v[i]!);
    loop(e.p, e.g, ctx.storage.values(m), ctx.storage.values(v), e.blend);
    mu[e.name] = m;
    nu[e.name] = v;
  });
  const count = advanceStepCount(ctx.storage, state.count);
  return { ...state.raw, count, mu: { ...state.mu, ...mu }, nu: { ...state.nu, ...nu } };
}

type Coefficients = { b1: number; oneMinusB1: number; b2: number; oneMinusB2: number; eps: number; cut: number; factor: number; decay: number; negLr: number };

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
function filteredAdamLoopExact(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, blend: ShadowBlend | undefined, k: Coefficients): void {
  const { b1, oneMinusB1, b2, oneMinusB2, eps, cut, factor, decay, negLr } = k;
  const n = p.length;
  if (blend === undefined) {
    for (let i = 0; i < n; i++) {
      const gi = g[i]!;
      const pi = p[i]!;
      const mi = f(f(m[i]! * b1) + f(gi * oneMinusB1));
      const vi = f(f(v[i]! * b2) + f(f(gi * gi) * oneMinusB2));
      m[i] = mi;
      v[i] = vi;
      let u = f(mi / f(f(Math.sqrt(vi)) + eps)) * (Math.abs(gi) >= cut ? 1 : 0);
      u = f(u * factor);
      if (decay !== 0) u = f(u + f(pi * decay));
      p[i] = f(pi + f(u * negLr));
    }
    return;
  }
  const { shadow, weight, keep } = blend;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const pi = p[i]!;
    const si = shadow[i]!;
    const q = f(f(pi * keep) + f(si * weight));
    shadow[i] = f(si + f(f(q - si) * SHADOW_FOLLOW));
    const mi = f(f(m[i]! * b1) + f(gi * oneMinusB1));
    const vi = f(f(v[i]! * b2) + f(f(gi * gi) * oneMinusB2));
    m[i] = mi;
    v[i] = vi;
    let u = f(mi / f(f(Math.sqrt(vi)) + eps)) * (Math.abs(gi) >= cut ? 1 : 0);
    u = f(u * factor);
    if (decay !== 0) u = f(u + f(q * decay));
    p[i] = f(pi + f(f(q - pi) + f(u * negLr)));
  }
}

/**
 * The same step at `'fast'` precision: an entry's arithmetic is float64, and its new
 * parameter and moments are rounded to float32 once, as they are stored. Same formulas,
 * fewer roundings (each rounding is a conversion on the loop's critical path): within
 * the golden tolerance of the composed path, and about 3x faster than `'exact'`.
 *
 * ```
 * [shadow]  q = p*keep + sh*w;  sh = sh + (q - sh) * 0.05      else q = p
 * m = m*b1 + g*(1-b1);  v = v*b2 + g*g*(1-b2)
 * u = m / (sqrt(v) + eps) * [|g| >= cut];   p = q * (1 - lr*wd) + u * (factor * -lr)
 * ```
 */
function filteredAdamLoopFast(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, blend: ShadowBlend | undefined, k: Coefficients): void {
  // p + (u*factor + p*wd) * -lr, as p * keep + u * scale (and wd = 0 gives keep = 1 exactly)
  const keep = 1 + k.decay * k.negLr;
  const scale = k.factor * k.negLr;
  if (blend === undefined) adamFast(p, g, m, v, k.b1, k.oneMinusB1, k.b2, k.oneMinusB2, k.eps, k.cut, keep, scale);
  else adamFastBlend(p, g, m, v, blend.shadow, blend.weight, blend.keep, k.b1, k.oneMinusB1, k.b2, k.oneMinusB2, k.eps, k.cut, keep, scale);
}

// The hot loops take their constants as arguments (V8 keeps them in registers) and
// test the filter with a branch: nearly every entry passes, or whole runs do not.
function adamFast(
  p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
  b1: number, oneMinusB1: number, b2: number, oneMinusB2: number, eps: number, cut: number, keep: number, scale: number,
): void {
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const mi = m[i]! * b1 + gi * oneMinusB1;
    const vi = v[i]! * b2 + gi * gi * oneMinusB2;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i]! * keep + (mi / (Math.sqrt(vi) + eps)) * (Math.abs(gi) >= cut ? scale : 0);
  }
}

function adamFastBlend(
  p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, shadow: Float32Array, weight: number, stay: number,
  b1: number, oneMinusB1: number, b2: number, oneMinusB2: number, eps: number, cut: number, keep: number, scale: number,
): void {
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const si = shadow[i]!;
    const q = p[i]! * stay + si * weight;
    shadow[i] = si + (q - si) * SHADOW_FOLLOW;
    const mi = m[i]! * b1 + gi * oneMinusB1;
    const vi = v[i]! * b2 + gi * gi * oneMinusB2;
    m[i] = mi;
    v[i] = vi;
    p[i] = q * keep + (mi / (Math.sqrt(vi) + eps)) * (Math.abs(gi) >= cut ? scale : 0);
  }
}

/**
 * Updates filtered Adam moments without bias correction for `entries` (whose moments
 * `state` was read for, in the same order) and their parameters, in one pass each. The
 * root filter's statistic is `'abs'` for EmoSens and `'square'` for EmoAiry's vectors.
 */
export function stepFilteredAdam(
  ctx: EmoStepContext,
  entries: EmoStepContext['entries'],
  state: MomentsState,
  statistic: 'abs' | 'square',
): StateValue {
  const { b1, b2, eps } = ctx.hyper;
  const k: Coefficients = {
    b1: f(b1),
    oneMinusB1: f(1 - b1),
    b2: f(b2),
    oneMinusB2: f(1 - b2),
    eps: f(eps),
    cut: rootCutoff(ctx.threshold, statistic),
    factor: ctx.factor,
    decay: ctx.decay,
    negLr: ctx.negLr,
  };
  const loop = ctx.exact ? filteredAdamLoopExact : filteredAdamLoopFast;
  return updateMoments(ctx, entries, state, (p, g, m, v, blend) => loop(p, g, m, v, blend, k));
}
