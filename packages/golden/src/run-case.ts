import * as tf from '@tensorflow/tfjs-core';
import { statefulOptimizer, type GradientTransformation, type StatefulOptimizer, type StateValue, type StepPath } from '@emosens/core';
import type {} from '@emosens/emotion'; // declares the `emotion` and `calm` signals
import { adam, adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { GoldenFormatError, type GoldenCase, type GoldenHyper } from './format.js';
import { EMO_V3_CLASSES, emoV3StateLeaf, emoV3Transform, isEmoV3Case } from './emo-v3.js';
import { isTorchPeerCase, TORCH_CLASSES, torchPeerTransform, torchStateLeaf } from './torch-peers.js';

/** The optimizer families a recording can name (by the first word of its case name). */
export type Family = 'emosens' | 'emoairy' | 'emocats' | 'adam' | 'adamw';

const FAMILIES: readonly Family[] = ['emosens', 'emoairy', 'emocats', 'adamw', 'adam'];

/** The family of a case, from its name (`emocats-shadow-decoupled` -> `emocats`). */
export function familyOf(caseName: string): Family {
  const head = caseName.split(/[-_.]/)[0]!.toLowerCase();
  const family = FAMILIES.find((f) => f === head);
  if (!family) {
    throw new GoldenFormatError(`case '${caseName}': its name must start with one of ${FAMILIES.join(', ')}.`);
  }
  return family;
}

/** Builds the emosens optimizer for a case from the reference's constructor arguments. */
export function optimizerFor(family: Family, hyper: GoldenHyper): GradientTransformation<StateValue> {
  const common = {
    ...(hyper.lr !== undefined ? { lr: hyper.lr } : {}),
    ...(hyper.betas !== undefined ? { betas: [hyper.betas[0], hyper.betas[1]] as const } : {}),
    ...(hyper.eps !== undefined ? { eps: hyper.eps } : {}),
    ...(hyper.weight_decay !== undefined ? { weightDecay: hyper.weight_decay } : {}),
  };
  const shadow = hyper.use_shadow !== undefined ? { useShadow: hyper.use_shadow } : {};
  switch (family) {
    case 'emosens':
      return emoSens({ ...common, ...shadow });
    case 'emoairy':
      return emoAiry({ ...common, ...shadow });
    case 'emocats':
      return emoCats({
        ...common,
        ...shadow,
        ...(hyper.decoupled_weight_decay !== undefined ? { decoupledWeightDecay: hyper.decoupled_weight_decay } : {}),
      });
    case 'adam':
      // torch.optim.Adam's weight_decay is L2 (added to the gradient), as `adam`'s
      return adam(common);
    case 'adamw':
      return adamw(common);
  }
}

type Obj = Record<string, unknown>;
const at = (value: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Obj)[k] : undefined), value);

/** The reference's keys found in an optimizer's state, and the shadow slot (taken or not). */
interface LocatedState {
  readonly values: Record<string, tf.Tensor | number>;
  readonly shadow?: { readonly value: tf.Tensor; readonly taken: tf.Tensor };
}

function locateReferenceState(family: Family, state: StateValue, param: string): LocatedState {
  const values: Record<string, tf.Tensor | number> = {};
  const put = (key: string, v: unknown) => {
    if (v !== undefined) values[key] = v as tf.Tensor | number;
  };
  if (family === 'adam' || family === 'adamw') {
    put('step', at(state, 'moments', 'count'));
    put('exp_avg', at(state, 'moments', 'mu', param));
    put('exp_avg_sq', at(state, 'moments', 'nu', param));
    return { values };
  }
  const step = at(state, 'step') as Obj;
  const shadowed = step && 'shadow' in step && 'inner' in step;
  const body = shadowed ? (step.inner as Obj) : step;
  const direction = at(body, 'direction');
  if (family === 'emosens') {
    put('exp_avg', at(direction, 'mu', param));
    put('exp_avg_sq', at(direction, 'nu', param));
  } else if (family === 'emoairy') {
    put('exp_avg_r', at(direction, 'factored', param, 'row'));
    put('exp_avg_c', at(direction, 'factored', param, 'col'));
    put('exp_avg', at(direction, 'dense', 'mu', param));
    put('exp_avg_sq', at(direction, 'dense', 'nu', param));
  } else {
    put('exp_avg', at(direction, '0', param));
  }
  const slot = shadowed ? (at(step, 'shadow', param) as { value: tf.Tensor; taken: tf.Tensor } | undefined) : undefined;
  return slot ? { values, shadow: slot } : { values };
}

/** Where a run first left the recording. */
export interface Mismatch {
  /** The step (0-based), or `'final'` for the final state. */
  readonly step: number | 'final';
  /** What differed: a parameter name, `scalar`, `should_stop`, or `state.<param>.<key>`. */
  readonly what: string;
  readonly index: number;
  readonly expected: number | boolean | string;
  readonly actual: number | boolean | string;
}

export interface CaseResult {
  readonly name: string;
  readonly steps: number;
  readonly mismatch?: Mismatch;
  /** The paths the steps took (`fused` and/or `composed`). */
  readonly paths: ReadonlySet<StepPath>;
}

export interface RunCaseOptions {
  /** Override the transform built for the case (e.g. to test a fused path). */
  readonly transform?: GradientTransformation<StateValue>;
  /** Allow a registered fused kernel to run the steps (default true, as `statefulOptimizer`). */
  readonly fused?: boolean;
  /** Hand the loss as a scalar tensor on even steps (0, 2, ...), a number on odd ones (default false). */
  readonly tensorLossOnEvenSteps?: boolean;
}

function firstDifference(actual: ArrayLike<number>, expected: readonly number[], tol: { rtol: number; atol: number }): number {
  if (actual.length !== expected.length) return Math.min(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    if (!(Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e))) return i;
  }
  return -1;
}

/** The Emo-family of a recording without an `optimizer` field (by its name), or undefined for a torch-peers recording. */
function familyFor(golden: GoldenCase): Family | undefined {
  if (isTorchPeerCase(golden) || isEmoV3Case(golden)) return undefined;
  if (golden.optimizer !== undefined) {
    throw new GoldenFormatError(
      `case '${golden.case}': 'optimizer' ${JSON.stringify(golden.optimizer)} is not a class this runner builds (${[...TORCH_CLASSES, ...EMO_V3_CLASSES].join(', ')}).`,
    );
  }
  return familyOf(golden.case);
}

/**
 * The emosens optimizer a recording describes: for a torch-peers recording, built from its
 * fields (`optimizer`, `hyper`, `schedule`, `clip`, `accumulate`, `lookahead`); for an emo-v3
 * recording, from its `optimizer` (a v3.9.1 class) and `hyper`; for an emo-v2 recording,
 * from its family (the first word of its name) and `hyper`.
 */
export function transformFor(golden: GoldenCase): GradientTransformation<StateValue> {
  if (isEmoV3Case(golden)) return emoV3Transform(golden);
  const family = familyFor(golden);
  return family === undefined ? torchPeerTransform(golden) : optimizerFor(family, golden.hyper ?? {});
}

/**
 * Replays a recording: the same initial parameters, gradients and losses, step by step,
 * comparing every step's parameters, emotion scalar and calm signal, and the final
 * state, within the recording's tolerance. Stops at the first difference. Values are
 * read with `await tensor.data()`, so it runs on backends without synchronous reads
 * (webgpu in Node) too. Every tensor it creates is released, pass or fail.
 */
export async function runCase(golden: GoldenCase, options: RunCaseOptions = {}): Promise<CaseResult> {
  const family = familyFor(golden);
  const tol = golden.tolerance;
  const paths = new Set<StepPath>();
  const done = (steps: number, mismatch?: Mismatch): CaseResult => ({ name: golden.case, steps, ...(mismatch ? { mismatch } : {}), paths });
  const transform = options.transform ?? transformFor(golden);
  const params: Record<string, tf.Tensor> = {};
  let opt: StatefulOptimizer | undefined;
  try {
    for (const [name, p] of Object.entries(golden.params)) params[name] = tf.tensor(p.values as number[], p.shape as number[], 'float32');
    opt = statefulOptimizer(transform, params, options.fused !== undefined ? { fused: options.fused } : {});
    for (let t = 0; t < golden.steps.length; t++) {
      const step = golden.steps[t]!;
      const grads: Record<string, tf.Tensor> = {};
      const loss = options.tensorLossOnEvenSteps && t % 2 === 0 ? tf.scalar(step.loss) : step.loss;
      try {
        for (const [name, p] of Object.entries(golden.params)) grads[name] = tf.tensor(step.grads[name] as number[], p.shape as number[], 'float32');
        opt.step(grads, { loss });
      } finally {
        tf.dispose([...Object.values(grads), ...(typeof loss === 'number' ? [] : [loss])]);
      }
      if (opt.path !== undefined) paths.add(opt.path);
      for (const name of Object.keys(golden.params)) {
        const actual = await opt.params[name]!.data();
        const expected = step.expected[name]!;
        const i = firstDifference(actual, expected, tol);
        if (i >= 0) return done(t + 1, { step: t, what: name, index: i, expected: expected[i]!, actual: actual[i]! });
      }
      if (step.scalar !== undefined) {
        const s = await readScalar(opt.signals.emotion);
        if (s === undefined || firstDifference([s], [step.scalar], tol) >= 0) {
          return done(t + 1, { step: t, what: 'scalar', index: 0, expected: step.scalar, actual: s ?? 'missing' });
        }
      }
      if (step.lr !== undefined && isEmoV3Case(golden)) {
        const lr = await readScalar(opt.signals.stepSize);
        if (lr === undefined || firstDifference([lr], [step.lr], tol) >= 0) {
          return done(t + 1, { step: t, what: 'lr', index: 0, expected: step.lr, actual: lr ?? 'missing' });
        }
      }
      if (step.should_stop !== undefined) {
        const value = await readScalar(opt.signals.calm);
        const calm = value === undefined ? undefined : Boolean(value);
        if (calm !== step.should_stop) {
          return done(t + 1, { step: t, what: 'should_stop', index: 0, expected: step.should_stop, actual: calm ?? 'missing' });
        }
      }
    }
    const final = family === undefined ? await compareByKey(golden, opt.state) : await compareFinalState(golden, family, opt.state);
    return done(golden.steps.length, final);
  } finally {
    opt?.dispose();
    tf.dispose(Object.values(params));
  }
}

async function readScalar(signal: tf.Tensor | undefined): Promise<number | undefined> {
  return signal === undefined ? undefined : (await signal.data())[0];
}

async function compareFinalState(golden: GoldenCase, family: Family, state: StateValue): Promise<Mismatch | undefined> {
  for (const [param, expectedState] of Object.entries(golden.final_state ?? {})) {
    const located = locateReferenceState(family, state, param);
    const ours = { ...located.values };
    if (located.shadow && (await located.shadow.taken.data())[0] === 1) ours.shadow = located.shadow.value;
    for (const [key, expected] of Object.entries(expectedState)) {
      const value = ours[key];
      if (value === undefined) {
        return { step: 'final', what: `state.${param}.${key}`, index: 0, expected: expected[0] ?? 0, actual: 'missing' };
      }
      const actual = typeof value === 'number' ? [value] : await value.data();
      const i = firstDifference(actual, expected, golden.tolerance);
      if (i >= 0) return { step: 'final', what: `state.${param}.${key}`, index: i, expected: expected[i] ?? 'missing', actual: actual[i] ?? 'missing' };
    }
    if (ours.shadow !== undefined && !('shadow' in expectedState)) {
      return { step: 'final', what: `state.${param}.shadow`, index: 0, expected: 'absent (never taken)', actual: 'taken' };
    }
  }
  return undefined;
}

/** The final state of a torch-peers or emo-v3 recording, found by the reference's key names. */
async function compareByKey(golden: GoldenCase, state: StateValue): Promise<Mismatch | undefined> {
  const leafOf = isEmoV3Case(golden) ? emoV3StateLeaf : torchStateLeaf;
  for (const [param, expectedState] of Object.entries(golden.final_state ?? {})) {
    for (const [key, expected] of Object.entries(expectedState)) {
      const value = leafOf(golden, state, param, key);
      if (typeof value === 'string') return { step: 'final', what: `state.${param}.${key}`, index: 0, expected: expected[0] ?? 0, actual: value };
      const actual = typeof value === 'number' ? [value] : await value.data();
      const i = firstDifference(actual, expected, golden.tolerance);
      if (i >= 0) return { step: 'final', what: `state.${param}.${key}`, index: i, expected: expected[i] ?? 'missing', actual: actual[i] ?? 'missing' };
    }
  }
  return undefined;
}

/** One line for a result: `<case>: pass`, or where it first differs. */
export function describeResult(r: CaseResult): string {
  if (!r.mismatch) return `${r.name}: pass`;
  const m = r.mismatch;
  const where = m.step === 'final' ? 'final state' : `step ${m.step}`;
  return `${r.name}: FAIL at ${where}, ${m.what}[${m.index}]: expected ${m.expected}, actual ${m.actual}`;
}
