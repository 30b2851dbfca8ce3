/**
 * The WGSL op table of the fusion target: how each operation of the fused graph (see
 * `fx` in `@emosens/core`) is printed, as tinygrad's `code_for_op`. Every value is an
 * `f32`, or a `vec4<f32>` of four neighbouring elements in a pass rendered four lanes per
 * invocation; comparisons, `and`, `or` and `not` give 0.0 or 1.0 like the graph says.
 * Where WGSL lacks a function or leaves a case undefined, a helper fills it in: each comes
 * in a scalar and a vector (`...4`) form, written without branches so that one source
 * serves both.
 */

/** Helpers a rendered expression may call, by name (`...4`: the `vec4<f32>` form). */
export type WgslHelper = `${'emosensExpm1' | 'emosensTanh' | 'emosensSign' | 'emosensPow'}${'' | '4'}` | 'emosensPowCutoff';

/** The type of a value: one element, or four lanes. */
export type Lanes = 1 | 4;

/** One operation's rendering: the code and the helpers it calls. */
export interface Rendered {
  readonly code: string;
  readonly helpers: readonly WgslHelper[];
}

/** The WGSL type of a value with `lanes` lanes. */
export const typeOf = (lanes: Lanes) => (lanes === 4 ? 'vec4<f32>' : 'f32');

/** A constant of `lanes` lanes, e.g. `0.0` or `vec4<f32>(0.0)`. */
const constant = (value: string, lanes: Lanes) => (lanes === 4 ? `vec4<f32>(${value})` : value);

const plain = (code: string): Rendered => ({ code, helpers: [] });
const call = (helper: 'emosensExpm1' | 'emosensTanh' | 'emosensSign' | 'emosensPow', lanes: Lanes, ...args: string[]): Rendered => {
  const name: WgslHelper = lanes === 4 ? `${helper}4` : helper;
  return { code: `${name}(${args.join(', ')})`, helpers: [name] };
};
const flag = (cond: string, lanes: Lanes) => plain(`select(${constant('0.0', lanes)}, ${constant('1.0', lanes)}, ${cond})`);
const both = (a: string, b: string, op: '&&' | '||', lanes: Lanes) =>
  lanes === 4 ? `(${a} != ${constant('0.0', 4)}) ${op[0]} (${b} != ${constant('0.0', 4)})` : `${a} != 0.0 ${op} ${b} != 0.0`;

/** Unary operations; the argument has `lanes` lanes. */
export function unary(op: string, a: string, lanes: Lanes): Rendered | undefined {
  switch (op) {
    case 'neg':
      return plain(`(-${a})`);
    case 'abs':
    case 'sqrt':
    case 'exp':
    case 'log':
      return plain(`${op}(${a})`);
    case 'expm1':
      return call('emosensExpm1', lanes, a);
    case 'tanh':
      return call('emosensTanh', lanes, a);
    case 'sign':
      return call('emosensSign', lanes, a);
    case 'not':
      return flag(`${a} == ${constant('0.0', lanes)}`, lanes);
  }
  return undefined;
}

/** Binary operations; both arguments have `lanes` lanes. */
export function binary(op: string, a: string, b: string, lanes: Lanes): Rendered | undefined {
  switch (op) {
    case 'add':
      return plain(`(${a} + ${b})`);
    case 'sub':
      return plain(`(${a} - ${b})`);
    case 'mul':
      return plain(`(${a} * ${b})`);
    case 'div':
      return plain(`(${a} / ${b})`);
    case 'pow':
      return call('emosensPow', lanes, a, b);
    case 'min':
    case 'max':
      return plain(`${op}(${a}, ${b})`);
    case 'gt':
      return flag(`${a} > ${b}`, lanes);
    case 'ge':
      return flag(`${a} >= ${b}`, lanes);
    case 'lt':
      return flag(`${a} < ${b}`, lanes);
    case 'le':
      return flag(`${a} <= ${b}`, lanes);
    case 'eq':
      return flag(`${a} == ${b}`, lanes);
    case 'and':
      return flag(both(a, b, '&&', lanes), lanes);
    case 'or':
      return flag(both(a, b, '||', lanes), lanes);
  }
  return undefined;
}

/** `c != 0 ? a : b`. */
export function select(c: string, a: string, b: string, lanes: Lanes): Rendered {
  return plain(`select(${b}, ${a}, ${c} != ${constant('0.0', lanes)})`);
}

/** `a >= b` as 0.0 or 1.0 (the root filter's test against a cutoff). */
export function atLeast(a: string, b: string, lanes: Lanes): Rendered {
  return flag(`${a} >= ${b}`, lanes);
}

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
 * The source of a helper. `nan` and `inf` are the uniform block's reserved entries (a
 * WGSL constant expression may be neither NaN nor infinite, so these come in at run time).
 */
export function helperSource(helper: WgslHelper, nan: string, inf: string): string {
  const lanes: Lanes = helper.endsWith('4') ? 4 : 1;
  const T = typeOf(lanes);
  const c = (value: string) => constant(value, lanes);
  const name = helper;
  switch (helper.replace(/4$/, '')) {
    case 'emosensExpm1':
      // e^x - 1 accurate to float32 rounding near 0, where `exp(x) - 1` loses digits to
      // cancellation (WGSL has no expm1, and its `log` is accurate only in absolute terms
      // near 1, which rules out Kahan's `(u - 1) x / log(u)`): a Taylor series in Horner form
      // for |x| < 1/2 (the first omitted term is below 2^-24 relative), `exp(x) - 1` beyond
      // (where |e^x - 1| > 0.39, so the cancellation costs at most a few ulps).
      return `fn ${name}(x: ${T}) -> ${T} {
  var s = ${c(f32(1 / factorial(EXPM1_TERMS)))};
${Array.from({ length: EXPM1_TERMS - 1 }, (_, k) => `  s = s * x + ${f32(1 / factorial(EXPM1_TERMS - 1 - k))};`).join('\n')}
  return select(exp(x) - 1.0, s * x, abs(x) < ${c('0.5')});
}`;
    case 'emosensTanh':
      // tanh(|x|) = -m / (2 + m) with m = expm1(-2|x|): accurate near 0 (where tfjs's
      // `(1 - e^-2|x|) / (1 + e^-2|x|)` loses digits to cancellation), exactly 1 once
      // e^-2|x| underflows; the sign by comparison, so NaN stays NaN.
      return `fn ${name}(x: ${T}) -> ${T} {
  let m = emosensExpm1${lanes === 4 ? '4' : ''}(-2.0 * abs(x));
  let r = -m / (2.0 + m);
  return select(-r, r, x >= ${c('0.0')});
}`;
    case 'emosensSign':
      // -1, 0 or 1 by comparison: 0 for 0 and NaN, as the graph's `sign`.
      return `fn ${name}(x: ${T}) -> ${T} {
  return select(select(${c('0.0')}, ${c('-1.0')}, x < ${c('0.0')}), ${c('1.0')}, x > ${c('0.0')});
}`;
    case 'emosensPow':
      // x^y as JavaScript's Math.pow where WGSL's pow is undefined: y == 0 gives 1, a zero
      // base 0 (y > 0) or +Infinity (y < 0), a negative base is defined for integer y only
      // (sign by parity, NaN otherwise). A positive base goes to WGSL's own pow, as
      // tfjs-backend-webgpu's Pow does (so both paths agree on the device).
      return `fn ${name}(x: ${T}, y: ${T}) -> ${T} {
  let ax = abs(x);
  let zero = select(${c(inf)}, ${c('0.0')}, y > ${c('0.0')});
  let r = select(pow(ax, y), zero, ax == ${c('0.0')});
  let negative = select(select(r, -r, abs(y) % ${c('2.0')} == ${c('1.0')}), ${c(nan)}, floor(y) != y);
  return select(select(r, negative, x < ${c('0.0')}), ${c('1.0')}, y == ${c('0.0')});
}`;
    default:
      // The smallest x >= 0 with emosensPow(x, c) >= t (> t when strict), by bisection over
      // the f32 bit patterns; NaN when no x passes. For c > 0, x^c never decreases as x
      // grows, so `x >= cutoff` is the per-element test `x^c >= t` with one pow per step
      // instead of one per element: the same device pow decides both.
      return `fn emosensPowPasses(x: f32, c: f32, t: f32, strict: bool) -> bool {
  let p = emosensPow(x, c);
  return select(p >= t, p > t, strict);
}

fn emosensPowCutoff(t: f32, c: f32, strict: bool) -> f32 {
  if (emosensPowPasses(0.0, c, t, strict)) { return 0.0; }
  if (!emosensPowPasses(${inf}, c, t, strict)) { return ${nan}; }
  var lo = 0u;
  var hi = 0x7f800000u;
  loop {
    if (hi - lo <= 1u) { break; }
    let mid = lo + (hi - lo) / 2u;
    if (emosensPowPasses(bitcast<f32>(mid), c, t, strict)) { hi = mid; } else { lo = mid; }
  }
  return bitcast<f32>(hi);
}`;
  }
}

/** The helpers a helper calls itself (included with it). */
export function helperDependencies(helper: WgslHelper): readonly WgslHelper[] {
  switch (helper) {
    case 'emosensTanh':
      return ['emosensExpm1'];
    case 'emosensTanh4':
      return ['emosensExpm14'];
    case 'emosensPowCutoff':
      return ['emosensPow'];
    default:
      return [];
  }
}

/** Every helper's name, in the order their sources are emitted (dependencies first). */
export const WGSL_HELPERS: readonly WgslHelper[] = [
  'emosensExpm1',
  'emosensExpm14',
  'emosensTanh',
  'emosensTanh4',
  'emosensSign',
  'emosensSign4',
  'emosensPow',
  'emosensPow4',
  'emosensPowCutoff',
];
