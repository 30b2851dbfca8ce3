import * as tf from '@tensorflow/tfjs-core';
import type { NodeDef } from '@emosens/core';

/** The graph's elementwise operations with one argument (`neg`, `abs`, ..., `not`). */
export type UnaryOp = Exclude<Extract<NodeDef, { readonly args: readonly [number] }>['op'], 'shiftIn'>;
/** The graph's elementwise operations with two arguments (arithmetic, comparisons, `and`, `or`). */
export type BinaryOp = Extract<NodeDef, { readonly args: readonly [number, number] }>['op'];

/**
 * A tensor value of the graph in the forms the ops need: `float` (float32, what every
 * value is in the graph) and `bool` (what a comparison gives and `where` takes). One form
 * is given, the other is made on first use and kept, so a comparison that only feeds a
 * select (or a bool state leaf) is never cast to float32 and back.
 */
export class DeviceValue {
  private floatForm: tf.Tensor | undefined;
  private boolForm: tf.Tensor | undefined;
  private make: (() => tf.Tensor) | undefined;

  private constructor(float: tf.Tensor | undefined, bool: tf.Tensor | undefined, make?: () => tf.Tensor) {
    this.floatForm = float;
    this.boolForm = bool;
    this.make = make;
  }

  static float(t: tf.Tensor): DeviceValue {
    return new DeviceValue(t, undefined);
  }

  static bool(t: tf.Tensor): DeviceValue {
    return new DeviceValue(undefined, t);
  }

  /** A float32 value computed on first use only (a folded linear form that may never be needed as a tensor). */
  static lazy(make: () => tf.Tensor): DeviceValue {
    return new DeviceValue(undefined, undefined, make);
  }

  /** The value as float32 (a bool form becomes 0 or 1). */
  float(): tf.Tensor {
    if (this.floatForm === undefined) {
      this.floatForm = this.make !== undefined ? this.make() : tf.cast(this.boolForm!, 'float32');
      this.make = undefined;
    }
    return this.floatForm;
  }

  /** The value as bool: `x != 0` (so NaN is true, as in the graph's `select`). */
  bool(): tf.Tensor {
    this.boolForm ??= tf.notEqual(this.float(), 0);
    return this.boolForm;
  }

  /** Whether the bool form exists already (a comparison, or a bool leaf). */
  get hasBool(): boolean {
    return this.boolForm !== undefined;
  }
}

/**
 * A value of one step: a number when it depends only on constants, uniforms and a
 * number loss (folded on the host, in float32), else tensors.
 */
export type Value = number | DeviceValue;

/** How an operation reads its operands as tensors (host numbers become scalar tensors). */
export interface Operands {
  float(v: Value): tf.Tensor;
  bool(v: Value): tf.Tensor;
}

/** One operation: its float32 arithmetic on host numbers and its tf ops on tensors. */
export interface OpRule<Args extends unknown[]> {
  readonly host: (...args: { [K in keyof Args]: number }) => number;
  readonly device: (o: Operands, ...args: Args) => DeviceValue;
}

const f = Math.fround;
const truth = (x: boolean) => (x ? 1 : 0);

const unaryFloat = (host: (a: number) => number, op: (a: tf.Tensor) => tf.Tensor): OpRule<[Value]> => ({
  host: (a) => f(host(a)),
  device: (o, a) => DeviceValue.float(op(o.float(a))),
});

/**
 * The unary op table. `sign` is built from comparisons (`(x > 0) - (x < 0)`, 0 for 0 and
 * NaN) rather than tf.sign: tfjs-backend-wasm 4.22's Sign returns 0 for tiny nonzero
 * values such as 3e-12. `not` is `x == 0`, or `!b` of a value that is a comparison already.
 */
export const UNARY: Record<UnaryOp, OpRule<[Value]>> = {
  neg: unaryFloat((a) => -a, tf.neg),
  abs: unaryFloat(Math.abs, tf.abs),
  sqrt: unaryFloat(Math.sqrt, tf.sqrt),
  exp: unaryFloat(Math.exp, tf.exp),
  expm1: unaryFloat(Math.expm1, tf.expm1),
  log: unaryFloat(Math.log, tf.log),
  tanh: unaryFloat(Math.tanh, tf.tanh),
  sign: {
    host: (a) => (a > 0 ? 1 : a < 0 ? -1 : 0),
    device: (o, a) => {
      const x = o.float(a);
      return DeviceValue.float(tf.sub(tf.cast(tf.greater(x, 0), 'float32'), tf.cast(tf.less(x, 0), 'float32')));
    },
  },
  not: {
    host: (a) => truth(a === 0),
    device: (o, a) => DeviceValue.bool(a instanceof DeviceValue && a.hasBool ? tf.logicalNot(a.bool()) : tf.equal(o.float(a), 0)),
  },
};

const arithmetic = (host: (a: number, b: number) => number, op: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor): OpRule<[Value, Value]> => ({
  host: (a, b) => f(host(a, b)),
  device: (o, a, b) => DeviceValue.float(op(o.float(a), o.float(b))),
});

const comparison = (host: (a: number, b: number) => boolean, op: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor): OpRule<[Value, Value]> => ({
  host: (a, b) => truth(host(a, b)),
  device: (o, a, b) => DeviceValue.bool(op(o.float(a), o.float(b))),
});

const logical = (host: (a: boolean, b: boolean) => boolean, op: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor): OpRule<[Value, Value]> => ({
  host: (a, b) => truth(host(a !== 0, b !== 0)),
  device: (o, a, b) => DeviceValue.bool(op(o.bool(a), o.bool(b))),
});

/**
 * The binary op table: host arithmetic rounds each result to float32, as tfjs stores it,
 * so a folded value is the value the device would have computed (JavaScript's `Math`, as
 * tfjs's cpu kernels; a backend in C may differ at edges no folded constant meets, e.g.
 * tfjs-wasm's `max(0, NaN)` is 0 and its `pow(1, Infinity)` is 1). Comparisons give a bool
 * tensor (cast to 0/1 only where a float is needed); `and`/`or` take `x != 0` of each side.
 */
export const BINARY: Record<BinaryOp, OpRule<[Value, Value]>> = {
  add: arithmetic((a, b) => a + b, tf.add),
  sub: arithmetic((a, b) => a - b, tf.sub),
  mul: arithmetic((a, b) => a * b, tf.mul),
  div: arithmetic((a, b) => a / b, tf.div),
  pow: arithmetic(Math.pow, tf.pow),
  min: arithmetic(Math.min, tf.minimum),
  max: arithmetic(Math.max, tf.maximum),
  gt: comparison((a, b) => a > b, tf.greater),
  ge: comparison((a, b) => a >= b, tf.greaterEqual),
  lt: comparison((a, b) => a < b, tf.less),
  le: comparison((a, b) => a <= b, tf.lessEqual),
  eq: comparison((a, b) => a === b, tf.equal),
  and: logical((a, b) => a && b, tf.logicalAnd),
  or: logical((a, b) => a || b, tf.logicalOr),
};

/**
 * Folds a binary op with one host operand that leaves the other unchanged bit for bit
 * (`x * 1`, `x / 1`, `x - 0`, `x + -0`, `x ** 1`; not `x + 0`, which turns -0 into +0),
 * or whose result the host operand decides (`x and 0`, `x or 1`). Returns undefined when
 * the op must run.
 */
export function foldIdentity(op: BinaryOp, a: Value, b: Value): Value | undefined {
  const isHost = (v: Value, x: number) => typeof v === 'number' && Object.is(v, x);
  switch (op) {
    case 'mul':
      return isHost(b, 1) ? a : isHost(a, 1) ? b : undefined;
    case 'div':
    case 'pow':
      return isHost(b, 1) ? a : undefined;
    case 'sub':
      return isHost(b, 0) ? a : undefined;
    case 'add':
      return isHost(b, -0) ? a : isHost(a, -0) ? b : undefined;
    case 'and':
    case 'or': {
      const host = typeof a === 'number' ? a : typeof b === 'number' ? b : undefined;
      const other = typeof a === 'number' ? b : a;
      if (host === undefined || typeof other === 'number') return undefined;
      // `x and 0` is 0 and `x or c` (c != 0) is 1; otherwise the result is `x != 0`
      if (op === 'and' ? host === 0 : host !== 0) return op === 'and' ? 0 : 1;
      return DeviceValue.bool(other.bool());
    }
    default:
      return undefined;
  }
}
