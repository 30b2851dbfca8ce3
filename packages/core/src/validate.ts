import type { Tensor } from '@tensorflow/tfjs-core';
import { EmosensError } from './errors.js';
import { describeValue, isTensor } from './internal/is-tensor.js';
import type { Params, Updates } from './types.js';

const FLOAT_DTYPES = new Set(['float32']);

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function shapeText(t: Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

/** Checks that every parameter is a float tensor (a transform's `init` calls this). */
export function validateParams(params: Params, block: string): void {
  if (typeof params !== 'object' || params === null) {
    throw new EmosensError('INVALID_ARGUMENT', `${block}: params must be an object of named tensors, got ${describeValue(params)}.`);
  }
  for (const [name, p] of Object.entries(params)) {
    if (!isTensor(p)) {
      throw new EmosensError('INVALID_ARGUMENT', `${block}: parameter '${name}' must be a tensor, got ${describeValue(p)}.`);
    }
    if (!FLOAT_DTYPES.has(p.dtype)) {
      throw new EmosensError(
        'NON_FLOAT_PARAMETER',
        `${block}: parameter '${name}' has dtype ${p.dtype}; expected a float32 tensor ` +
          '(only float parameters can be optimized).',
      );
    }
  }
}

export interface ValidateGradientsOptions {
  /** When false (the default), every parameter needs a gradient. */
  readonly allowMissing?: boolean;
  /** The caller's name, used in messages. */
  readonly block?: string;
  /** What the map holds, used in messages ("gradient" by default). */
  readonly kind?: string;
}

/**
 * Checks a gradient (or update) map against the parameters: no unknown names, no
 * missing names unless allowed, and the same shape and float dtype as the parameter.
 */
export function validateGradients(params: Params, grads: Updates, options: ValidateGradientsOptions = {}): void {
  const where = options.block ? `${options.block}: ` : '';
  const kind = options.kind ?? 'gradient';
  if (typeof grads !== 'object' || grads === null) {
    throw new EmosensError('INVALID_ARGUMENT', `${where}expected an object of named ${kind} tensors, got ${describeValue(grads)}.`);
  }
  for (const [name, p] of Object.entries(params)) {
    if (p.isDisposed) {
      throw new EmosensError('DISPOSED', `${where}parameter '${name}' has been disposed; an optimizer cannot step a released tensor.`);
    }
  }
  for (const [name, g] of Object.entries(grads)) {
    if (!isTensor(g)) {
      throw new EmosensError('INVALID_ARGUMENT', `${where}${kind} for parameter '${name}' must be a tensor, got ${describeValue(g)}.`);
    }
    if (g.isDisposed) {
      throw new EmosensError('DISPOSED', `${where}the ${kind} for parameter '${name}' has been disposed before the step used it.`);
    }
    const p = params[name];
    if (p === undefined) {
      const known = Object.keys(params);
      throw new EmosensError(
        'UNKNOWN_PARAMETER',
        `${where}got a ${kind} for unknown parameter '${name}'; expected one of: ${known.join(', ') || '(none)'}.`,
      );
    }
    if (!sameShape(g.shape, p.shape)) {
      throw new EmosensError(
        'SHAPE_MISMATCH',
        `${where}${kind} for parameter '${name}' has shape ${shapeText(g)}; expected ${shapeText(p)} like the parameter.`,
      );
    }
    if (g.dtype !== p.dtype) {
      throw new EmosensError(
        'DTYPE_MISMATCH',
        `${where}${kind} for parameter '${name}' has dtype ${g.dtype}; expected ${p.dtype} like the parameter.`,
      );
    }
  }
  if (!options.allowMissing) {
    for (const name of Object.keys(params)) {
      if (!(name in grads)) {
        throw new EmosensError(
          'MISSING_GRADIENT',
          `${where}no ${kind} for parameter '${name}'; every parameter needs one ` +
            '(pass allowMissing: true to leave parameters without gradients unchanged).',
        );
      }
    }
  }
}

/** Option checks shared by every block factory; each throws `INVALID_OPTION` naming the option. */
export const check = {
  /** A finite number, optionally within [min, max] (or an open bound). */
  number(
    block: string,
    option: string,
    value: unknown,
    range: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean } = {},
  ): number {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new EmosensError('INVALID_OPTION', `${block}: option '${option}' must be a finite number, got ${describeValue(value)}.`);
    }
    const { min, max, minExclusive = false, maxExclusive = false } = range;
    const lowOk = min === undefined || (minExclusive ? value > min : value >= min);
    const highOk = max === undefined || (maxExclusive ? value < max : value <= max);
    if (!lowOk || !highOk) {
      const lo = min === undefined ? '(-inf' : `${minExclusive ? '(' : '['}${min}`;
      const hi = max === undefined ? 'inf)' : `${max}${maxExclusive ? ')' : ']'}`;
      throw new EmosensError('INVALID_OPTION', `${block}: option '${option}' must be in ${lo}, ${hi}, got ${value}.`);
    }
    return value;
  },
  /**
   * An `eps` that guards a division (`m / (sqrt(v) + eps)` and its kin): a finite number
   * > 0. With `eps: 0` a zero gradient gives 0 / 0 = NaN in the weights (torch accepts it
   * and produces the NaN), so the ready-made optimizers refuse it up front. Blocks whose
   * division another term guards (`epsRoot`) keep `check.number(..., { min: 0 })`.
   */
  divisorEps(block: string, option: string, value: unknown): number {
    if (typeof value === 'number' && Number.isFinite(value) && value <= 0) {
      throw new EmosensError(
        'INVALID_OPTION',
        `${block}: option '${option}' must be in (0, inf), got ${value}: it is added to a divisor, and ${value} turns a zero gradient into 0/0 = NaN.`,
      );
    }
    return check.number(block, option, value, { min: 0, minExclusive: true });
  },
  /** A positive integer. */
  integer(block: string, option: string, value: unknown, min = 1): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      throw new EmosensError('INVALID_OPTION', `${block}: option '${option}' must be an integer >= ${min}, got ${describeValue(value)}.`);
    }
    return value;
  },
  boolean(block: string, option: string, value: unknown): boolean {
    if (typeof value !== 'boolean') {
      throw new EmosensError('INVALID_OPTION', `${block}: option '${option}' must be true or false, got ${describeValue(value)}.`);
    }
    return value;
  },
  /** A pair of betas, each in [0, 1). */
  betas(block: string, option: string, value: unknown): readonly [number, number] {
    if (!Array.isArray(value) || value.length !== 2) {
      throw new EmosensError('INVALID_OPTION', `${block}: option '${option}' must be a pair [beta1, beta2], got ${describeValue(value)}.`);
    }
    const b1 = check.number(block, `${option}[0]`, value[0], { min: 0, max: 1, maxExclusive: true });
    const b2 = check.number(block, `${option}[1]`, value[1], { min: 0, max: 1, maxExclusive: true });
    return [b1, b2];
  },
};
