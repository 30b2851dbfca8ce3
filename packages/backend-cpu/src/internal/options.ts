import { EmosensError, type FusedSpec } from '@emosens/core';

/**
 * How the element loops round. `'exact'`: to float32 after every operation, in the
 * composed path's order, so fused and composed steps are bit-identical. `'fast'` (the
 * default): values are float32 when stored and float64 within an entry's arithmetic,
 * which agrees with the composed path within the golden tolerance and is a few times
 * faster (every rounding is a conversion on the critical path of the loop).
 */
export type Precision = 'fast' | 'exact';

/** The hyperparameters a fused optimizer kernel receives (`fused.options` of the optimizer). */
export interface FusedHyper {
  readonly lr: number;
  readonly b1: number;
  readonly b2: number;
  readonly eps: number;
  /** Already divided by lr for EmoCats with `decoupledWeightDecay`. */
  readonly weightDecay: number;
  readonly useShadow: boolean;
}

/** Reads and checks `fused.options`, naming the kernel and option on error. */
export function readHyper(kernel: string, options: FusedSpec['options']): FusedHyper {
  const num = (key: string): number => {
    const v = options[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new EmosensError('INVALID_OPTION', `${kernel}: fused option '${key}' must be a finite number, got ${String(v)}.`);
    }
    return v;
  };
  const useShadow = options.useShadow ?? false;
  if (typeof useShadow !== 'boolean') {
    throw new EmosensError('INVALID_OPTION', `${kernel}: fused option 'useShadow' must be a boolean, got ${String(useShadow)}.`);
  }
  return { lr: num('lr'), b1: num('b1'), b2: num('b2'), eps: num('eps'), weightDecay: num('weightDecay'), useShadow };
}
