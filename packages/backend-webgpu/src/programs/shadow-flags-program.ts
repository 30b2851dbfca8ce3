import { GUARD_RETURN, GUARDED_EMOTION, SHADOW_RATIO, type FusedProgram, type StorageBinding } from '../internal/wgsl.js';

/** How many `taken` flags one dispatch updates (storage bindings: these plus the emotion scalar, or the guard buffer). */
export const FLAGS_PER_DISPATCH = 7;

/**
 * Marks the shadows of up to {@link FLAGS_PER_DISPATCH} parameters as taken once the
 * shadow system is active: `taken = max(taken, 1[shadowRatio(|s|) > 0])`. It runs after
 * the parameters' {@link UpdateProgram} dispatches, which read the old flags. `guarded` (a
 * step with `skipNonFinite`) binds the guard buffer in place of the emotion scalar (which
 * it reads from there) and writes nothing when the finite check failed.
 */
export class ShadowFlagsProgram implements FusedProgram {
  readonly cacheKey: string;
  readonly bindings: readonly StorageBinding[];
  readonly workgroupSize = 1;
  readonly usesHyper = false;

  constructor(
    readonly count: number,
    readonly guarded = false,
  ) {
    if (!Number.isInteger(count) || count < 1 || count > FLAGS_PER_DISPATCH) {
      throw new RangeError(`ShadowFlagsProgram: count must be an integer in [1, ${FLAGS_PER_DISPATCH}], got ${count}.`);
    }
    this.cacheKey = `emosens.shadowFlags.${count}${guarded ? '.guarded' : ''}`;
    this.bindings = [
      guarded ? { name: 'guard', access: 'read', type: 'i32' } : { name: 'emotion', access: 'read', type: 'f32' },
      ...Array.from({ length: count }, (_, k) => ({ name: `taken${k}`, access: 'read_write', type: 'f32' }) as const),
    ];
  }

  getUserCode(): string {
    const updates = Array.from({ length: this.count }, (_, k) => `  taken${k}[0] = max(taken${k}[0], isActive);`).join('\n');
    return `${SHADOW_RATIO}

@compute @workgroup_size(1)
fn main() {
${this.guarded ? `  ${GUARD_RETURN}\n` : ''}  let isActive = select(0.0, 1.0, shadowRatio(abs(${this.guarded ? GUARDED_EMOTION : 'emotion[0]'})) > 0.0);
${updates}
}
`;
  }
}
