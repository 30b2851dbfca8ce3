/**
 * The WGSL op table of the fusion target: how each operation of the fused graph (see
 * `fx` in `@emosens/core`) is printed, as tinygrad's `code_for_op`. Every value is an
 * `f32`; comparisons, `and`, `or` and `not` give 0.0 or 1.0 like the graph says. Where
 * WGSL lacks a function or leaves a case undefined, a helper below fills it in, and
 * {@link WGSL_HELPERS} holds their sources (a program includes the ones it calls).
 */

/** Helpers a rendered expression may call, by name. */
export type WgslHelper = 'emosensExpm1' | 'emosensTanh' | 'emosensSign' | 'emosensPow';

/** One operation's rendering: the code and the helpers it calls. */
export interface Rendered {
  readonly code: string;
  readonly helpers: readonly WgslHelper[];
}

const plain = (code: string): Rendered => ({ code, helpers: [] });
const call = (helper: WgslHelper, ...args: string[]): Rendered => ({ code: `${helper}(${args.join(', ')})`, helpers: [helper] });
const flag = (cond: string) => plain(`select(0.0, 1.0, ${cond})`);

export const UNARY: Readonly<Record<string, (a: string) => Rendered>> = {
  neg: (a) => plain(`(-${a})`),
  abs: (a) => plain(`abs(${a})`),
  sqrt: (a) => plain(`sqrt(${a})`),
  exp: (a) => plain(`exp(${a})`),
  expm1: (a) => call('emosensExpm1', a),
  log: (a) => plain(`log(${a})`),
  tanh: (a) => call('emosensTanh', a),
  sign: (a) => call('emosensSign', a),
  not: (a) => flag(`${a} == 0.0`),
};

export const BINARY: Readonly<Record<string, (a: string, b: string) => Rendered>> = {
  add: (a, b) => plain(`(${a} + ${b})`),
  sub: (a, b) => plain(`(${a} - ${b})`),
  mul: (a, b) => plain(`(${a} * ${b})`),
  div: (a, b) => plain(`(${a} / ${b})`),
  pow: (a, b) => call('emosensPow', a, b),
  min: (a, b) => plain(`min(${a}, ${b})`),
  max: (a, b) => plain(`max(${a}, ${b})`),
  gt: (a, b) => flag(`${a} > ${b}`),
  ge: (a, b) => flag(`${a} >= ${b}`),
  lt: (a, b) => flag(`${a} < ${b}`),
  le: (a, b) => flag(`${a} <= ${b}`),
  eq: (a, b) => flag(`${a} == ${b}`),
  and: (a, b) => flag(`${a} != 0.0 && ${b} != 0.0`),
  or: (a, b) => flag(`${a} != 0.0 || ${b} != 0.0`),
};

/** `c != 0 ? a : b`. */
export const SELECT = (c: string, a: string, b: string): Rendered => plain(`select(${b}, ${a}, ${c} != 0.0)`);

/** A WGSL f32 literal that rounds to exactly `Math.fround(x)` (finite `x` only). */
export function f32(x: number): string {
  return `${Math.fround(x).toPrecision(9)}f`;
}

/** Terms of the Taylor series of `emosensExpm1` (enough for float32 at |x| < 1/2). */
const EXPM1_TERMS = 10;

function factorial(n: number): number {
  let out = 1;
  for (let k = 2; k <= n; k++) out *= k;
  return out;
}

/**
 * The helper sources. `NAN` and `INF` are the uniform block's reserved entries (see
 * `UNIFORM_NAN`/`UNIFORM_INF` in render-wgsl.ts): a WGSL constant expression may not be
 * NaN or infinite, so these come in at run time.
 */
export function helperSource(helper: WgslHelper, nan: string, inf: string): string {
  switch (helper) {
    case 'emosensExpm1':
      // e^x - 1 accurate to float32 rounding near 0, where `exp(x) - 1` loses digits to
      // cancellation (WGSL has no expm1, and its `log` is accurate only in absolute terms
      // near 1, which rules out Kahan's `(u - 1) x / log(u)`): a Taylor series in Horner form
      // for |x| < 1/2 (the first omitted term is below 2^-24 relative), `exp(x) - 1` beyond
      // (where |e^x - 1| > 0.39, so the cancellation costs at most a few ulps).
      return `fn emosensExpm1(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    var s = ${f32(1 / factorial(EXPM1_TERMS))};
${Array.from({ length: EXPM1_TERMS - 1 }, (_, k) => `    s = s * x + ${f32(1 / factorial(EXPM1_TERMS - 1 - k))};`).join('\n')}
    return s * x;
  }
  return exp(x) - 1.0;
}`;
    case 'emosensTanh':
      // tanh(|x|) = -m / (2 + m) with m = expm1(-2|x|): accurate near 0 (where tfjs's
      // `(1 - e^-2|x|) / (1 + e^-2|x|)` loses digits to cancellation), exactly 1 once
      // e^-2|x| underflows; the sign by comparison, so NaN stays NaN.
      return `fn emosensTanh(x: f32) -> f32 {
  let m = emosensExpm1(-2.0 * abs(x));
  let r = -m / (2.0 + m);
  return select(-r, r, x >= 0.0);
}`;
    case 'emosensSign':
      // -1, 0 or 1 by comparison: 0 for 0 and NaN, as the graph's `sign`.
      return `fn emosensSign(x: f32) -> f32 {
  return select(select(0.0, -1.0, x < 0.0), 1.0, x > 0.0);
}`;
    case 'emosensPow':
      // x^y as JavaScript's Math.pow for the cases WGSL's pow leaves undefined: y == 0
      // gives 1, a zero base 0 (y > 0) or +Infinity (y < 0), a negative base is defined
      // for integer y only (sign by parity, NaN otherwise). A positive base goes to WGSL's
      // own pow, as tfjs-backend-webgpu's Pow does (so both paths agree on the device).
      return `fn emosensPow(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  let ax = abs(x);
  var r = pow(ax, y);
  if (ax == 0.0) { r = select(${inf}, 0.0, y > 0.0); }
  if (x < 0.0) {
    if (floor(y) != y) { r = ${nan}; } else if (abs(y) % 2.0 == 1.0) { r = -r; }
  }
  return r;
}`;
  }
}

/** The helpers a helper calls itself (included with it). */
export const HELPER_DEPENDENCIES: Readonly<Record<WgslHelper, readonly WgslHelper[]>> = {
  emosensExpm1: [],
  emosensTanh: ['emosensExpm1'],
  emosensSign: [],
  emosensPow: [],
};

/** Every helper's name, in the order their sources are emitted (dependencies first). */
export const WGSL_HELPERS: readonly WgslHelper[] = ['emosensExpm1', 'emosensTanh', 'emosensSign', 'emosensPow'];
