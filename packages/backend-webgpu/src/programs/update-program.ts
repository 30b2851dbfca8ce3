import type { FusedDirection, FusedFilter } from '@emosens/optimizers';
import {
  ELEMENTWISE_MAIN,
  f32,
  FILTER_BASE,
  FILTER_POWER,
  FLAT_INDEX,
  GUARD_RETURN,
  GUARDED_EMOTION,
  SHADOW_FOLLOW,
  SHADOW_RATIO,
  WORKGROUP_SIZE,
  type FusedProgram,
  type StorageBinding,
} from '../internal/wgsl.js';

/**
 * Where a parameter's update direction comes from (`adam`, `lion`, or `factored`, EmoAiry's
 * row/column moments, already updated by {@link FactoredStatsProgram}); from the step plan.
 */
export type Direction = FusedDirection;

/** Which root filter masks the update (`factored`: the masks {@link FactoredStatsProgram} wrote). */
export type Filter = FusedFilter;

export interface UpdateVariant {
  readonly direction: Direction;
  readonly filter: Filter;
  /** Cool the step by `1 - |s|` (the Emo optimizers). */
  readonly emotion: boolean;
  /** Blend toward the shadow first (the Emo optimizers with `useShadow`). */
  readonly shadow: boolean;
  /** Adam's bias correction (AdamW only), read from the buffer `AdamCountProgram` wrote. */
  readonly biasCorrection: boolean;
  /** Decoupled weight decay is on (`weightDecay > 0`). */
  readonly decay: boolean;
  /**
   * The step checks non-finite input (`skipNonFinite`): bind the guard buffer (in place
   * of the emotion scalar, which is then read from it) and write nothing when the finite
   * check failed. Default false.
   */
  readonly guarded?: boolean;
}

/**
 * The whole update of one parameter and its state in one dispatch, one invocation per
 * entry, in place. In the order of the composed chain (`@emosens/optimizers`):
 *
 * ```
 * [shadow]   ratio = shadowRatio(|s|); blend p toward the shadow, move the shadow (withShadow)
 * direction  adam:  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  u = m / (sqrt(v) + eps)
 *                   (bias-corrected: u = (m / bc1) / (sqrt(v) / sqrt(bc2) + eps), from `corrections`)
 *            lion:  u = sign((1-b1) g + b1 m);  m = b2 m + (1-b2) g
 *            factored: u = g / (sqrt(R_i C_j) + eps)
 * filter     u *= 1[root(g) vs 1e-4 (1 + |s|)]
 * emotion    u *= 1 - |s|
 * decay      u += wd * p          (p blended, with the shadow)
 * lr         u *= -lr;  p += u    (p + ((p_blended - p) + u), with the shadow)
 * ```
 *
 * The shadow's `taken` flag is read here and updated afterwards by
 * {@link ShadowFlagsProgram}: writing it here would race with the other workgroups.
 * Guarded (`skipNonFinite`), it writes nothing when the step's finite check failed.
 */
export class UpdateProgram implements FusedProgram {
  readonly cacheKey: string;
  readonly bindings: readonly StorageBinding[];
  readonly workgroupSize = WORKGROUP_SIZE;

  constructor(readonly variant: UpdateVariant) {
    const v = variant;
    const guarded = v.guarded === true;
    this.cacheKey = `emosens.update.${v.direction}.${v.filter}.${+v.emotion}${+v.shadow}${+v.biasCorrection}${+v.decay}${guarded ? '.guarded' : ''}`;
    const rw = (name: string): StorageBinding => ({ name, access: 'read_write', type: 'f32' });
    const read = (name: string): StorageBinding => ({ name, access: 'read', type: 'f32' });
    const state: StorageBinding[] =
      v.direction === 'adam' ? [rw('mu'), rw('nu')] : v.direction === 'lion' ? [rw('moment')] : [read('row'), read('col')];
    this.bindings = [
      rw('param'),
      read('grad'),
      ...state,
      ...(v.filter === 'factored' ? [read('mask')] : []),
      ...(v.biasCorrection ? [read('corrections')] : []),
      ...(guarded ? [{ name: 'guard', access: 'read', type: 'i32' } as const] : v.emotion ? [read('emotion')] : []),
      ...(v.shadow ? [rw('shadowValue'), read('shadowTaken')] : []),
    ];
  }

  getUserCode(): string {
    const v = this.variant;
    const lines: string[] = [];
    const add = (line: string) => lines.push(`  ${line}`);
    add('if (i >= arrayLength(&param)) { return; }');
    if (v.guarded === true) add(GUARD_RETURN);
    add('let g = grad[i];');
    add('let p = param[i];');
    if (v.emotion) add(`let a = abs(${v.guarded === true ? GUARDED_EMOTION : 'emotion[0]'});`);
    if (v.shadow) {
      add('let ratio = shadowRatio(a);');
      add('let isActive = select(0.0, 1.0, ratio > 0.0);');
      add('let taken = shadowTaken[0];');
      add('let blendWeight = (isActive * taken) * ratio;');
      add('let shadow = shadowValue[i];');
      add('let blended = p * (1.0 - blendWeight) + shadow * blendWeight;');
      add(`let followed = shadow + (blended - shadow) * ${f32(SHADOW_FOLLOW)};`);
      add('let takeNow = isActive * (1.0 - taken);');
      add('let keepOld = 1.0 - isActive;');
      add('shadowValue[i] = select(select(followed, shadow, keepOld > 0.0), p, takeNow > 0.0);');
      add('let pb = select(p, blended, blendWeight > 0.0);');
    } else {
      add('let pb = p;');
    }
    switch (v.direction) {
      case 'adam':
        add('let m = mu[i] * hyper.b1 + g * hyper.oneMinusB1;');
        add('let s2 = nu[i] * hyper.b2 + (g * g) * hyper.oneMinusB2;');
        add('mu[i] = m;');
        add('nu[i] = s2;');
        add(
          v.biasCorrection
            ? 'var u = (m / corrections[0]) / (sqrt(s2) / corrections[1] + hyper.eps);'
            : 'var u = m / (sqrt(s2) + hyper.eps);',
        );
        break;
      case 'lion':
        add('let m = moment[i];');
        add('var u = sign(g * hyper.oneMinusB1 + m * hyper.b1);');
        add('moment[i] = m * hyper.b2 + g * hyper.oneMinusB2;');
        break;
      case 'factored':
        add('let columns = arrayLength(&col);');
        add('let r = i / columns;');
        add('let c = i % columns;');
        add('var u = g / (sqrt(row[r] * col[c]) + hyper.eps);');
        break;
    }
    if (v.filter === 'absAtLeast' || v.filter === 'squareAbove') add(`let threshold = (a + 1.0) * ${f32(FILTER_BASE)};`);
    switch (v.filter) {
      case 'absAtLeast':
        add(`u = u * select(0.0, 1.0, pow(abs(g), ${f32(FILTER_POWER)}) >= threshold);`);
        break;
      case 'squareAbove':
        add(`u = u * select(0.0, 1.0, pow(g * g, ${f32(FILTER_POWER)}) > threshold);`);
        break;
      case 'factored':
        add('u = u * (mask[r] * mask[arrayLength(&row) + c]);');
        break;
      case 'none':
        break;
    }
    if (v.emotion) add('u = u * (1.0 - a);');
    if (v.decay) add('u = u + pb * hyper.weightDecay;');
    add('u = u * hyper.negLr;');
    add(v.shadow ? 'param[i] = p + ((pb - p) + u);' : 'param[i] = p + u;');
    return `${FLAT_INDEX}\n${v.shadow ? `${SHADOW_RATIO}\n` : ''}\n${ELEMENTWISE_MAIN}\n${lines.join('\n')}\n}\n`;
  }
}
