import { ELEMENTWISE_MAIN, FLAT_INDEX, GUARD, WORKGROUP_SIZE, type FusedProgram, type StorageBinding } from '../internal/wgsl.js';

/** How many inputs one check dispatch reads (storage bindings: these plus the guard buffer). */
export const INPUTS_PER_CHECK = 7;

/** What changes a {@link FiniteCheckProgram}'s source. */
export interface FiniteCheckVariant {
  /** How many float32 inputs it checks, 1 to {@link INPUTS_PER_CHECK}. */
  readonly inputs: number;
  /** The first input is the loss tensor: its bits are also copied into the guard buffer. */
  readonly loss: boolean;
}

/**
 * The `skipNonFinite` check of a fused step, dispatched before every other program of the
 * step, one invocation per entry of its longest input:
 *
 * ```
 * guard.ok <- 0   if any entry of any input is NaN or ±Infinity   (guard.ok is 1 before)
 * guard.loss <- bits(loss)                                         (with `loss`)
 * ```
 *
 * An entry is non-finite exactly when its exponent bits are all ones; the inputs are
 * bound as `u32` and tested on their bits, because WGSL lets a compiler assume that float
 * arithmetic never meets NaN or Infinity (so `x != x` may fold to false). Many
 * invocations may store the same 0: no atomics are needed, and nothing else writes `ok`
 * in this dispatch. Every later program of the step reads `ok` and writes nothing when
 * it is 0. Several dispatches of this program may check one step's inputs (7 at a time).
 */
export class FiniteCheckProgram implements FusedProgram {
  readonly cacheKey: string;
  readonly bindings: readonly StorageBinding[];
  readonly workgroupSize = WORKGROUP_SIZE;
  readonly usesHyper = false;

  constructor(readonly variant: FiniteCheckVariant) {
    const { inputs, loss } = variant;
    if (!Number.isInteger(inputs) || inputs < 1 || inputs > INPUTS_PER_CHECK) {
      throw new RangeError(`FiniteCheckProgram: inputs must be an integer in [1, ${INPUTS_PER_CHECK}], got ${inputs}.`);
    }
    this.cacheKey = `emosens.finiteCheck.${inputs}.${loss ? 'loss' : 'noLoss'}`;
    this.bindings = [
      { name: 'guard', access: 'read_write', type: 'i32' },
      ...Array.from({ length: inputs }, (_, k) => ({ name: `input${k}`, access: 'read', type: 'u32' }) as const),
    ];
  }

  getUserCode(): string {
    const checks = Array.from(
      { length: this.variant.inputs },
      (_, k) => `  if (i < arrayLength(&input${k}) && nonFinite(input${k}[i])) { guard[${GUARD.ok}] = 0; }`,
    ).join('\n');
    const copyLoss = this.variant.loss ? `  if (i == 0u) { guard[${GUARD.loss}] = bitcast<i32>(input0[0]); }\n` : '';
    return `${FLAT_INDEX}

// NaN and ±Infinity are the float32 values whose 8 exponent bits are all ones.
fn nonFinite(bits: u32) -> bool {
  return (bits & 0x7f800000u) == 0x7f800000u;
}

${ELEMENTWISE_MAIN}
${copyLoss}${checks}
}
`;
  }
}
