import * as tf from '@tensorflow/tfjs-core';
import { flattenState, isTensor, statefulOptimizer, type StepPath } from '@emosens/core';
import type {} from '@emosens/emotion'; // declares the `emotion` and `calm` signals
import { describeResult, familyOf, optimizerFor, referenceState, type CaseResult, type GoldenCase, type Mismatch } from '@emosens/golden';

/** Replay options: which path to allow, and how to hand the loss over. */
export interface ReplayOptions {
  readonly fused: boolean;
  /** Hand the loss as a scalar tensor on even steps (the fused kernels read it on the device). */
  readonly tensorLossOnEvenSteps?: boolean;
}

export interface ReplayResult {
  readonly line: string;
  readonly result: CaseResult;
  /** The paths the steps took. */
  readonly paths: ReadonlySet<StepPath | undefined>;
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
 * `runCase` of @emosens/golden for backends without synchronous reads (webgpu in Node):
 * the same comparisons (every step's parameters, emotion scalar and calm signal, then the
 * reference's final state) with `await tensor.data()`.
 */
export async function replayCase(golden: GoldenCase, options: ReplayOptions): Promise<ReplayResult> {
  const family = familyOf(golden.case);
  const tol = golden.tolerance;
  const paths = new Set<StepPath | undefined>();
  const params: Record<string, tf.Tensor> = {};
  for (const [name, p] of Object.entries(golden.params)) params[name] = tf.tensor(p.values as number[], p.shape as number[], 'float32');
  const opt = statefulOptimizer(optimizerFor(family, golden.hyper ?? {}), params, { fused: options.fused });
  const done = (steps: number, mismatch?: Mismatch): ReplayResult => {
    const result: CaseResult = { name: golden.case, steps, ...(mismatch ? { mismatch } : {}) };
    return { line: describeResult(result), result, paths };
  };
  try {
    for (let t = 0; t < golden.steps.length; t++) {
      const step = golden.steps[t]!;
      const grads: Record<string, tf.Tensor> = {};
      for (const [name, p] of Object.entries(golden.params)) grads[name] = tf.tensor(step.grads[name] as number[], p.shape as number[], 'float32');
      const loss = options.tensorLossOnEvenSteps && t % 2 === 0 ? tf.scalar(step.loss) : step.loss;
      opt.step(grads, { loss });
      paths.add(opt.path);
      tf.dispose([...Object.values(grads), ...(isTensor(loss) ? [loss] : [])]);
      for (const name of Object.keys(golden.params)) {
        const actual = await opt.params[name]!.data();
        const expected = step.expected[name]!;
        const i = firstDifference(actual, expected, tol);
        if (i >= 0) return done(t + 1, { step: t, what: name, index: i, expected: expected[i]!, actual: actual[i]! });
      }
      if (step.scalar !== undefined) {
        const s = opt.signals.emotion ? (await opt.signals.emotion.data())[0] : undefined;
        if (s === undefined || firstDifference([s], [step.scalar], tol) >= 0) {
          return done(t + 1, { step: t, what: 'scalar', index: 0, expected: step.scalar, actual: s ?? 'missing' });
        }
      }
      if (step.should_stop !== undefined) {
        const calm = opt.signals.calm ? Boolean((await opt.signals.calm.data())[0]) : undefined;
        if (calm !== step.should_stop) {
          return done(t + 1, { step: t, what: 'should_stop', index: 0, expected: step.should_stop, actual: calm ?? 'missing' });
        }
      }
    }
    // Bring every state tensor's values to the CPU, so referenceState's reads are cached ones.
    for (const leaf of flattenState(opt.state)) if (isTensor(leaf.value)) await leaf.value.data();
    for (const [param, expectedState] of Object.entries(golden.final_state ?? {})) {
      const ours = referenceState(family, opt.state, param);
      for (const [key, expected] of Object.entries(expectedState)) {
        const value = ours[key];
        const what = `state.${param}.${key}`;
        if (value === undefined) return done(golden.steps.length, { step: 'final', what, index: 0, expected: expected[0] ?? 0, actual: 'missing' });
        const actual = typeof value === 'number' ? [value] : await value.data();
        const i = firstDifference(actual, expected, tol);
        if (i >= 0) return done(golden.steps.length, { step: 'final', what, index: i, expected: expected[i] ?? 'missing', actual: actual[i] ?? 'missing' });
      }
      if (ours.shadow !== undefined && !('shadow' in expectedState)) {
        return done(golden.steps.length, { step: 'final', what: `state.${param}.shadow`, index: 0, expected: 'absent (never taken)', actual: 'taken' });
      }
    }
    return done(golden.steps.length);
  } finally {
    opt.dispose();
    tf.dispose(Object.values(params));
  }
}
