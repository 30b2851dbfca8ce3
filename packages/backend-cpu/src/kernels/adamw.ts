import { isTensor, type FusedKernel, type FusedStepArgs, type FusedStepResult, type StateValue } from '@emosens/core';
import { readValues, StepStorage } from '../internal/cpu-storage.js';
import { inputsFinite } from '../internal/finite.js';
import { onCpu, requireCpuBackend } from '../internal/emo-step.js';
import { readMoments } from '../internal/filtered-adam.js';
import { f } from '../internal/float32.js';
import { readHyper, type Precision } from '../internal/options.js';
import { StateReader } from '../internal/state-access.js';
import { advanceStepCount } from '../internal/step-count.js';
import { ADAMW } from '../kernel-keys.js';
import type { Tensor } from '@tensorflow/tfjs-core';

type Obj = { readonly [key: string]: StateValue };

const name = `${ADAMW}/cpu`;

type Coefficients = { b1: number; oneMinusB1: number; b2: number; oneMinusB2: number; eps: number; bc1: number; bc2: number; decay: number; negLr: number };

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
function adamwLoopExact(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, k: Coefficients): void {
  const { b1, oneMinusB1, b2, oneMinusB2, eps, bc1, bc2, decay, negLr } = k;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const pi = p[i]!;
    const mi = f(f(m[i]! * b1) + f(gi * oneMinusB1));
    const vi = f(f(v[i]! * b2) + f(f(gi * gi) * oneMinusB2));
    m[i] = mi;
    v[i] = vi;
    let u = f(f(mi / bc1) / f(f(f(Math.sqrt(vi)) / bc2) + eps));
    if (decay !== 0) u = f(u + f(pi * decay));
    p[i] = f(pi + f(u * negLr));
  }
}

/** The same at `'fast'` precision: float64 arithmetic per entry, rounded to float32 when stored. */
function adamwLoopFast(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, k: Coefficients): void {
  const { b1, oneMinusB1, b2, oneMinusB2, eps } = k;
  // p + (m/bc1 / (sqrt(v)/bc2 + eps) + p*wd) * -lr, as p * keep + m / (sqrt(v)/bc2 + eps) * scale
  const keep = 1 + k.decay * k.negLr;
  const scale = k.negLr / k.bc1;
  const rootScale = 1 / k.bc2;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const mi = m[i]! * b1 + gi * oneMinusB1;
    const vi = v[i]! * b2 + gi * gi * oneMinusB2;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i]! * keep + (mi / (Math.sqrt(vi) * rootScale + eps)) * scale;
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

function stepAdamw(precision: Precision, args: FusedStepArgs<StateValue>): FusedStepResult<StateValue> {
  const backend = requireCpuBackend(name);
  const hyper = readHyper(name, args.options);
  const read = new StateReader(name);
  const root = read.object(args.state, '(root)');
  const names = Object.keys(args.grads);
  const shapes = names.map((n) => args.params[n]!.shape);
  const moments = readMoments(root.moments, 'moments', names, shapes, read, backend);
  if (args.skipNonFinite && !inputsFinite(backend, args.loss, args.grads)) return { state: args.state, signals: {}, finite: false };

  const storage = new StepStorage(backend, [...Object.values(args.grads), isTensor(args.loss) ? args.loss : undefined]);
  const k: Coefficients = {
    b1: f(hyper.b1),
    oneMinusB1: f(1 - hyper.b1),
    b2: f(hyper.b2),
    oneMinusB2: f(1 - hyper.b2),
    eps: f(hyper.eps),
    ...biasCorrections(moments.count.value, hyper.b1, hyper.b2),
    decay: hyper.weightDecay === 0 ? 0 : f(hyper.weightDecay),
    negLr: f(-hyper.lr),
  };
  const loop = precision === 'exact' ? adamwLoopExact : adamwLoopFast;
  const mu: Record<string, Tensor> = {};
  const nu: Record<string, Tensor> = {};
  names.forEach((n, i) => {
    const p = storage.writableVariable(args.params[n]!);
    const m = storage.writable(moments.m[i]!);
    const v = storage.writable(moments.v[i]!);
    loop(p, readValues(backend, args.grads[n]!), storage.values(m), storage.values(v), k);
    mu[n] = m;
    nu[n] = v;
  });
  const count = advanceStepCount(storage, moments.count);
  const nextMoments: Obj = { ...moments.raw, count, mu: { ...moments.mu, ...mu }, nu: { ...moments.nu, ...nu } };
  // the decay and learning rate entries of the chain keep no state
  const state = { ...root, moments: nextMoments };
  return args.skipNonFinite ? { state, signals: {}, finite: true } : { state, signals: {} };
}

/**
 * Adam / AdamW on the cpu backend (`adam(options)` is this with weight decay 0): the
 * whole step in one pass over each parameter's arrays, in place.
 */
export function createAdamwCpuKernel(precision: Precision): FusedKernel {
  return { name, supports: onCpu, guardsNonFinite: true, step: (args) => stepAdamw(precision, args) };
}
