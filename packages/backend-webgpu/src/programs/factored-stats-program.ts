import { ELEMENTWISE_MAIN, f32, FILTER_BASE, FILTER_POWER, FLAT_INDEX, GUARD_RETURN, GUARDED_EMOTION, WORKGROUP_SIZE, type FusedProgram, type StorageBinding } from '../internal/wgsl.js';

/**
 * EmoAiry's factored statistics of one matrix gradient `g` of shape `[d0, C]` (C the
 * product of the other dimensions), one invocation per row and per column:
 *
 * ```
 * r_i = mean_j g_ij^2 + eps      R_i = b1 R_i + (1 - b1) sqrt(r_i)      mask_i      = 1[r_i^(1/3) > thr]
 * c_j = mean_i g_ij^2 + eps      C_j = b1 C_j + (1 - b1) sqrt(c_j)      mask_{d0+j} = 1[c_j^(1/3) > thr]
 * ```
 *
 * with `thr = 1e-4 (1 + |s|)`. Each invocation owns its row or column, so the row and
 * column moments are updated in place without races; the masks go to a scratch buffer
 * of `d0 + C` floats that {@link UpdateProgram} reads in the next dispatch. `guarded` (a
 * step with `skipNonFinite`) binds the guard buffer in place of the emotion scalar (which
 * it reads from there) and writes nothing when the finite check failed.
 */
export class FactoredStatsProgram implements FusedProgram {
  readonly cacheKey: string;
  readonly workgroupSize = WORKGROUP_SIZE;
  readonly bindings: readonly StorageBinding[];

  constructor(readonly guarded = false) {
    this.cacheKey = `emosens.factoredStats${guarded ? '.guarded' : ''}`;
    this.bindings = [
      { name: 'grad', access: 'read', type: 'f32' },
      { name: 'row', access: 'read_write', type: 'f32' },
      { name: 'col', access: 'read_write', type: 'f32' },
      { name: 'mask', access: 'read_write', type: 'f32' },
      guarded ? { name: 'guard', access: 'read', type: 'i32' } : { name: 'emotion', access: 'read', type: 'f32' },
    ];
  }

  getUserCode(): string {
    return `${FLAT_INDEX}

${ELEMENTWISE_MAIN}
  let rows = arrayLength(&row);
  let columns = arrayLength(&col);
  if (i >= rows + columns) { return; }
${this.guarded ? `  ${GUARD_RETURN}\n` : ''}  let threshold = (abs(${this.guarded ? GUARDED_EMOTION : 'emotion[0]'}) + 1.0) * ${f32(FILTER_BASE)};
  var sum = 0.0;
  if (i < rows) {
    for (var j = 0u; j < columns; j = j + 1u) {
      let x = grad[i * columns + j];
      sum = sum + x * x;
    }
    let r = sum / f32(columns) + hyper.eps;
    row[i] = row[i] * hyper.b1 + sqrt(r) * hyper.oneMinusB1;
    mask[i] = select(0.0, 1.0, pow(r, ${f32(FILTER_POWER)}) > threshold);
  } else {
    let c = i - rows;
    for (var k = 0u; k < rows; k = k + 1u) {
      let x = grad[k * columns + c];
      sum = sum + x * x;
    }
    let r = sum / f32(rows) + hyper.eps;
    col[c] = col[c] * hyper.b1 + sqrt(r) * hyper.oneMinusB1;
    mask[i] = select(0.0, 1.0, pow(r, ${f32(FILTER_POWER)}) > threshold);
  }
}
`;
  }
}
