import * as tf from '@tensorflow/tfjs-core';
import { BINARY, DeviceValue, type Operands, type Value } from './op-table.js';

/** One term of a linear form: a per-parameter tensor value times a scalar factor `coef / divisor`. */
export interface Term {
  readonly base: DeviceValue;
  /** A host number or a scalar (`step` or `param`) value. */
  readonly coef: Value;
  /** A scalar the term is divided by, if any (kept apart so that `x / s` alone stays one division). */
  readonly divisor?: Value;
}

/**
 * A per-parameter value as `sum_i base_i * coef_i / divisor_i`, the factors scalars.
 * Chains of scalings and sums of per-element tensors (`((u * k) + p * wd) * -lr`) fold
 * into few terms whose factors are scalar work done once per step
 * (`p * (1 - lr wd) + u * (-lr k)`), so that fewer ops run over whole tensors: the
 * "folding" of the tf-ops target. The result agrees with the unfolded order of operations
 * within float32 rounding, not bit for bit.
 */
export type LinearForm = readonly Term[];

type CoefOp = 'mul' | 'add' | 'div';

const isHost = (v: Value | undefined, x: number) => typeof v === 'number' && Object.is(v, x);

/**
 * Arithmetic on factors: host numbers fold in float32; scalar tensors run one op per
 * distinct operation and operands per step, shared by every parameter (a learning rate
 * times an emotion factor is computed once, not once per parameter).
 */
export class Coefficients {
  private readonly ids = new Map<DeviceValue, number>();
  private readonly done = new Map<string, Value>();

  constructor(private readonly operands: Operands) {}

  private key(v: Value): string {
    if (typeof v === 'number') return `h${Object.is(v, -0) ? '-0' : String(v)}`;
    let id = this.ids.get(v);
    if (id === undefined) {
      id = this.ids.size + 1;
      this.ids.set(v, id);
    }
    return `d${id}`;
  }

  private opKey(op: CoefOp, a: Value, b: Value): string {
    const keys = [this.key(a), this.key(b)];
    return `${op}:${(op === 'div' ? keys : keys.sort()).join(':')}`;
  }

  private trivial(op: CoefOp, a: Value, b: Value): Value | undefined {
    if (typeof a === 'number' && typeof b === 'number') return BINARY[op].host(a, b);
    if (op === 'mul' && isHost(a, 1)) return b;
    if ((op === 'mul' || op === 'div') && isHost(b, 1)) return a;
    return undefined;
  }

  /** Whether `op(a, b)` would launch an op not launched yet this step. */
  launches(op: CoefOp, a: Value, b: Value): boolean {
    return this.trivial(op, a, b) === undefined && !this.done.has(this.opKey(op, a, b));
  }

  apply(op: CoefOp, a: Value, b: Value): Value {
    const folded = this.trivial(op, a, b);
    if (folded !== undefined) return folded;
    const key = this.opKey(op, a, b);
    let out = this.done.get(key);
    if (out === undefined) {
      out = BINARY[op].device(this.operands, a, b);
      this.done.set(key, out);
    }
    return out;
  }

  /** A term's whole factor `coef / divisor`. */
  factor(t: Term): Value {
    return t.divisor === undefined ? t.coef : this.apply('div', t.coef, t.divisor);
  }
}

/** `form * s`: each coefficient times `s`. */
export function scaleForm(form: LinearForm, s: Value, coefficients: Coefficients): LinearForm {
  return form.map((t) => ({ ...t, coef: coefficients.apply('mul', t.coef, s) }));
}

/** `form / s`: each divisor times `s` (or `s` itself). */
export function divideForm(form: LinearForm, s: Value, coefficients: Coefficients): LinearForm {
  return form.map((t) => ({ ...t, divisor: t.divisor === undefined ? s : coefficients.apply('mul', t.divisor, s) }));
}

/** How many new scalar ops {@link scaleForm} (`'mul'`) or {@link divideForm} (`'div'`) would launch. */
export function foldCost(form: LinearForm, op: 'mul' | 'div', s: Value, coefficients: Coefficients): number {
  return form.filter((t) => (op === 'mul' ? coefficients.launches('mul', t.coef, s) : t.divisor !== undefined && coefficients.launches('mul', t.divisor, s))).length;
}

/**
 * `a + b`, terms of the same base merged (their factors added). A term whose factor
 * folds to exactly 0 on the host is dropped (`p + (q - p)` is `q`): this differs from the
 * unfolded sum only where the dropped base is not finite.
 */
export function addForms(a: LinearForm, b: LinearForm, coefficients: Coefficients): LinearForm {
  const out: Term[] = [...a];
  for (const t of b) {
    const i = out.findIndex((o) => o.base === t.base);
    if (i < 0) out.push(t);
    else out[i] = { base: t.base, coef: coefficients.apply('add', coefficients.factor(out[i]!), coefficients.factor(t)) };
  }
  return out.filter((t) => !(t.divisor === undefined && isHost(t.coef, 0)));
}

/**
 * The tensor of a form: per term one multiply (`x * c`), one division (`x / d`) or none
 * (`x`), and the adds between terms; 0 for no terms.
 */
export function materialize(form: LinearForm, operands: Operands, coefficients: Coefficients): tf.Tensor | number {
  const parts = form.map((t) => {
    const x = t.base.float();
    if (t.divisor !== undefined && isHost(t.coef, 1)) return tf.div(x, operands.float(t.divisor));
    const factor = coefficients.factor(t);
    return isHost(factor, 1) ? x : tf.mul(x, operands.float(factor));
  });
  if (parts.length === 0) return 0;
  return parts.reduce((sum, x) => tf.add(sum, x));
}
