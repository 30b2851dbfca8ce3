import * as tf from '@tensorflow/tfjs-core';
import { statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import type {} from '@emosens/emotion'; // declares the `emotion` and `calm` signals
import { adam, adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { GoldenFormatError, type GoldenCase, type GoldenHyper } from './format.js';

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
      // torch.optim.Adam's weight_decay is L2 (added to the gradient), not decoupled.
      if (hyper.weight_decay) throw new GoldenFormatError('adam cases with weight_decay (L2) are not supported; use adamw.');
      return adam({ ...common, weightDecay: 0 });
    case 'adamw':
      return adamw(common);
  }
}

type Obj = Record<string, unknown>;
const at = (value: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Obj)[k] : undefined), value);

/**
 * The reference's per-parameter state (`exp_avg`, `exp_avg_sq`, `exp_avg_r`, `exp_avg_c`,
 * `shadow`, `step`) found in an emosens optimizer's state. Keys the optimizer does not
 * keep for that parameter are absent; `shadow` is present only once taken.
 */
export function referenceState(family: Family, state: StateValue, param: string): Record<string, tf.Tensor | number> {
  const out: Record<string, tf.Tensor | number> = {};
  const put = (key: string, v: unknown) => {
    if (v !== undefined) out[key] = v as tf.Tensor | number;
  };
  if (family === 'adam' || family === 'adamw') {
    put('step', at(state, 'moments', 'count'));
    put('exp_avg', at(state, 'moments', 'mu', param));
    put('exp_avg_sq', at(state, 'moments', 'nu', param));
    return out;
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
  if (shadowed) {
    const slot = at(step, 'shadow', param) as { value: tf.Tensor; taken: tf.Tensor } | undefined;
    if (slot && slot.taken.dataSync()[0] === 1) out.shadow = slot.value;
  }
  return out;
}

/** `tf.tidy` for a function returning plain data. */
function tidyResult<T>(fn: () => T): T {
  return tf.tidy(fn as () => tf.TensorContainer) as T;
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
}

export interface RunCaseOptions {
  /** Override the transform built for the case (e.g. to test a fused path). */
  readonly transform?: GradientTransformation<StateValue>;
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

/**
 * Replays a recording: the same initial parameters, gradients and losses, step by step,
 * comparing every step's parameters, emotion scalar and calm signal, and the final
 * state, within the recording's tolerance. Stops at the first difference.
 */
export function runCase(golden: GoldenCase, options: RunCaseOptions = {}): CaseResult {
  const family = familyOf(golden.case);
  const tol = golden.tolerance;
  return tidyResult((): CaseResult => {
    const transform = options.transform ?? optimizerFor(family, golden.hyper ?? {});
    const params: Record<string, tf.Tensor> = {};
    for (const [name, p] of Object.entries(golden.params)) params[name] = tf.tensor(p.values as number[], p.shape as number[], 'float32');
    const opt = statefulOptimizer(transform, params);
    try {
      for (let t = 0; t < golden.steps.length; t++) {
        const step = golden.steps[t]!;
        const grads: Record<string, tf.Tensor> = {};
        for (const [name, p] of Object.entries(golden.params)) grads[name] = tf.tensor(step.grads[name] as number[], p.shape as number[], 'float32');
        opt.step(grads, { loss: step.loss });
        tf.dispose(Object.values(grads));
        for (const name of Object.keys(golden.params)) {
          const actual = opt.params[name]!.dataSync();
          const expected = step.expected[name]!;
          const i = firstDifference(actual, expected, tol);
          if (i >= 0) return { name: golden.case, steps: t + 1, mismatch: { step: t, what: name, index: i, expected: expected[i]!, actual: actual[i]! } };
        }
        if (step.scalar !== undefined) {
          const s = opt.readSignal('emotion');
          if (s === undefined || firstDifference([s], [step.scalar], tol) >= 0) {
            return { name: golden.case, steps: t + 1, mismatch: { step: t, what: 'scalar', index: 0, expected: step.scalar, actual: s ?? 'missing' } };
          }
        }
        if (step.should_stop !== undefined) {
          const calm = opt.readSignal('calm');
          if (calm === undefined || Boolean(calm) !== step.should_stop) {
            return { name: golden.case, steps: t + 1, mismatch: { step: t, what: 'should_stop', index: 0, expected: step.should_stop, actual: calm === undefined ? 'missing' : Boolean(calm) } };
          }
        }
      }
      const mismatch = compareFinalState(golden, family, opt.state);
      return { name: golden.case, steps: golden.steps.length, ...(mismatch ? { mismatch } : {}) };
    } finally {
      opt.dispose();
    }
  });
}

function compareFinalState(golden: GoldenCase, family: Family, state: StateValue): Mismatch | undefined {
  for (const [param, expectedState] of Object.entries(golden.final_state ?? {})) {
    const ours = referenceState(family, state, param);
    for (const [key, expected] of Object.entries(expectedState)) {
      const value = ours[key];
      if (value === undefined) {
        return { step: 'final', what: `state.${param}.${key}`, index: 0, expected: expected[0] ?? 0, actual: 'missing' };
      }
      const actual = typeof value === 'number' ? [value] : value.dataSync();
      const i = firstDifference(actual, expected, golden.tolerance);
      if (i >= 0) return { step: 'final', what: `state.${param}.${key}`, index: i, expected: expected[i] ?? 'missing', actual: actual[i] ?? 'missing' };
    }
    if (ours.shadow !== undefined && !('shadow' in expectedState)) {
      return { step: 'final', what: `state.${param}.shadow`, index: 0, expected: 'absent (never taken)', actual: 'taken' };
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
