import { EXPM1, GUARD_RETURN, type FusedProgram, type StorageBinding } from '../internal/wgsl.js';

/** Floats in the scratch buffer an {@link AdamCountProgram} writes: `bc1` and `sqrt(bc2)`. */
export const CORRECTION_FLOATS = 2;

/**
 * Advances AdamW's step count and computes its bias corrections, once per step, in one
 * invocation recorded before the parameters' update dispatches (which read the
 * corrections; the count itself is never read back):
 *
 * ```
 * t = count + 1;   count <- t
 * corrections = [bc1, sqrt(bc2)]       bc_i = 1 - b_i^t = -expm1(t * ln(b_i))
 * ```
 *
 * as `biasCorrection` in @emosens/moments computes them (`ln(b_i)` rounded to float32 in
 * the uniform block). Incrementing the count inside the update dispatches instead would
 * race: every workgroup of every parameter's dispatch would have to read the old count
 * while one of them writes the new one. `guarded` (a step with `skipNonFinite`) binds the
 * guard buffer and writes nothing when the finite check failed.
 */
export class AdamCountProgram implements FusedProgram {
  readonly cacheKey: string;
  readonly workgroupSize = 1;
  readonly bindings: readonly StorageBinding[];

  constructor(readonly guarded = false) {
    this.cacheKey = `emosens.adamCount${guarded ? '.guarded' : ''}`;
    this.bindings = [
      { name: 'count', access: 'read_write', type: 'f32' },
      { name: 'corrections', access: 'read_write', type: 'f32' },
      ...(guarded ? [{ name: 'guard', access: 'read', type: 'i32' } as const] : []),
    ];
  }

  getUserCode(): string {
    return `${EXPM1}

@compute @workgroup_size(1)
fn main() {
${this.guarded ? `  ${GUARD_RETURN}\n` : ''}  let t = count[0] + 1.0;
  count[0] = t;
  corrections[0] = -accurateExpm1(t * hyper.logB1);
  corrections[1] = sqrt(-accurateExpm1(t * hyper.logB2));
}
`;
  }
}
