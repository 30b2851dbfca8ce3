/**
 * Pieces shared by the WGSL programs of the fused kernels.
 *
 * Every program binds the step's hyperparameters as a uniform at binding 0, then its
 * storage buffers in the order its `bindings` lists them. Values that change between
 * optimizers or steps but are known on the CPU without reading the device (learning rate,
 * betas, `ln(beta)`, the loss when it is a number) live in the uniform; values that depend
 * on the state (the step counts, and from them the first-step and window flags and Adam's
 * bias corrections) are read from the state's buffers on the device. Only what changes the
 * shader's source goes into a program's cache key.
 */

/** Threads per workgroup of the elementwise programs. */
export const WORKGROUP_SIZE = 64;

/** One storage binding of a program. */
export interface StorageBinding {
  readonly name: string;
  readonly access: 'read' | 'read_write';
  readonly type: 'f32' | 'i32' | 'u32';
}

/** A compute program: the tfjs-backend-webgpu shape, with several writable outputs. */
export interface FusedProgram {
  /** Everything that changes the source; the pipeline cache key. */
  readonly cacheKey: string;
  readonly bindings: readonly StorageBinding[];
  readonly workgroupSize: number;
  /** False when the code never reads `hyper` (WGSL then leaves binding 0 out of the layout). Default true. */
  readonly usesHyper?: boolean;
  /** The program's functions and its `main` entry point. */
  getUserCode(): string;
}

/** Field order of the uniform block (each a 4-byte word). */
export const HYPER_FIELDS = [
  'b1',
  'oneMinusB1',
  'b2',
  'oneMinusB2',
  'eps',
  'weightDecay',
  'negLr',
  /** `ln(b1)` rounded to float32, as the composed `biasCorrection` multiplies the count by it. */
  'logB1',
  /** `ln(b2)`, likewise. */
  'logB2',
  'loss',
] as const;
export type HyperField = (typeof HYPER_FIELDS)[number];

/** Size in bytes of the uniform block (padded to 16). */
export const HYPER_BYTES = Math.ceil((HYPER_FIELDS.length * 4) / 16) * 16;

/** Packs the uniform block, every field an f32. */
export function packHyper(values: Readonly<Record<HyperField, number>>): ArrayBuffer {
  const buffer = new ArrayBuffer(HYPER_BYTES);
  const f = new Float32Array(buffer);
  HYPER_FIELDS.forEach((name, i) => {
    f[i] = values[name];
  });
  return buffer;
}

/** A WGSL f32 literal that rounds to exactly `Math.fround(x)`. */
export function f32(x: number): string {
  return `${Math.fround(x).toPrecision(9)}f`;
}

/** The complete source of a program: the uniform block, its storage buffers, its code. */
export function makeShaderSource(program: FusedProgram): string {
  const fields = HYPER_FIELDS.map((name) => `  ${name}: f32,`).join('\n');
  const padding = Array.from({ length: HYPER_BYTES / 4 - HYPER_FIELDS.length }, (_, i) => `  pad${i}: u32,`).join('\n');
  const storage = program.bindings
    .map((b, i) => `@group(0) @binding(${i + 1}) var<storage, ${b.access}> ${b.name}: array<${b.type}>;`)
    .join('\n');
  return `struct Hyper {\n${fields}\n${padding}\n};\n@group(0) @binding(0) var<uniform> hyper: Hyper;\n${storage}\n\n${program.getUserCode()}`;
}

/** The global index of an invocation of a (possibly 2-D) elementwise dispatch. */
export const FLAT_INDEX = `fn flatIndex(workgroup: vec3<u32>, groups: vec3<u32>, local: u32) -> u32 {
  return (workgroup.y * groups.x + workgroup.x) * ${WORKGROUP_SIZE}u + local;
}`;

/** The signature of an elementwise `main`; the body reads `i`. */
export const ELEMENTWISE_MAIN = `@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) workgroup: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
  let i = flatIndex(workgroup, groups, local);`;

/** The root-filter constants of the Emo optimizers: threshold `1e-4 * (1 + |s|)`, cube root. */
export const FILTER_BASE = 1e-4;
export const FILTER_POWER = 1 / 3;

/** The shadow system's blend ratio, as the reference writes it (see `shadowRatio` in @emosens/shadow). */
export const SHADOW_RATIO = `fn shadowRatio(a: f32) -> f32 {
  let high = ((a - ${f32(0.6)}) / ${f32(0.4)}) * ${f32(0.4)} + ${f32(0.6)};
  let mid = ((a - ${f32(0.1)}) / ${f32(0.5)}) * ${f32(0.5)} + ${f32(0.1)};
  return select(select(0.0, mid, a > ${f32(0.1)}), high, a > ${f32(0.6)});
}`;

/** How far the shadow follows the blended weights each active step. */
export const SHADOW_FOLLOW = 0.05;

/** Terms of the Taylor series {@link EXPM1} sums for small arguments (enough for float32 at |x| < 1/2). */
const EXPM1_TERMS = 10;

/**
 * `expm1(x) = e^x - 1` accurate to float32 rounding near 0, where `exp(x) - 1` loses
 * digits to cancellation (WGSL has no `expm1`, and its `log` is only accurate in absolute
 * terms near 1, which rules out Kahan's `(u - 1) x / log(u)`). A Taylor series in Horner
 * form for `|x| < 1/2` (the first omitted term is below 2^-24 relative), `exp(x) - 1`
 * beyond (where `|e^x - 1| > 0.39`, so the cancellation costs at most a few ulps).
 */
export const EXPM1 = `fn accurateExpm1(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    var sum = ${f32(1 / factorial(EXPM1_TERMS))};
${Array.from({ length: EXPM1_TERMS - 1 }, (_, k) => `    sum = sum * x + ${f32(1 / factorial(EXPM1_TERMS - 1 - k))};`).join('\n')}
    return sum * x;
  }
  return exp(x) - 1.0;
}`;

function factorial(n: number): number {
  let out = 1;
  for (let k = 2; k <= n; k++) out *= k;
  return out;
}

/**
 * The words of the per-step guard buffer of a step with `skipNonFinite` (i32 each):
 * `ok` (1 until the finite check clears it), the loss's bits (copied from the loss tensor
 * by the check, or written by the host for a number loss) and the new emotion scalar's
 * bits (written by the emotion dispatch, read by the later ones in place of the
 * scalar's own buffer, which keeps every guarded program within 8 storage bindings).
 */
export const GUARD = { ok: 0, loss: 1, emotion: 2 } as const;
/** Words in the guard buffer (padded to 16 bytes). */
export const GUARD_WORDS = 4;

/** The first statement of a guarded program: nothing is written once the check failed. */
export const GUARD_RETURN = `if (guard[${GUARD.ok}] == 0) { return; }`;

/** The WGSL expression of the step's emotion scalar in a guarded program. */
export const GUARDED_EMOTION = `bitcast<f32>(guard[${GUARD.emotion}])`;
