// Reads a torch-peers recording (../shared/golden/torch-peers) and runs a transform through it.
import * as tf from '@tensorflow/tfjs-core';
import { statefulOptimizer, type GradientTransformation, type StatefulOptimizer, type StateValue } from '@emosens/core';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The torch-peers recordings, beside the clone: `<repo>/../shared/golden/torch-peers`. */
const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));
export const GOLDEN = path.resolve(repoRoot, '..', 'shared', 'golden', 'torch-peers');

export interface Recording {
  readonly optimizer: string;
  readonly hyper: Record<string, unknown>;
  readonly accumulate?: number;
  readonly lookahead?: { readonly sync_period: number; readonly alpha: number };
  readonly params: Record<string, { shape: number[]; values: number[] }>;
  readonly steps: ReadonlyArray<{ grads: Record<string, number[]>; expected: Record<string, number[]> }>;
  readonly final_state: Record<string, Record<string, number[]>>;
  readonly tolerance: { atol: number; rtol: number };
}

/** The recording `file`, or the reason it is absent (outside this repository's layout). */
export function loadRecording(file: string): { rec: Recording } | { reason: string } {
  const full = path.join(GOLDEN, file);
  if (!existsSync(full)) return { reason: `no recording at ${full}` };
  return { rec: JSON.parse(readFileSync(full, 'utf8')) as Recording };
}

/** `|a - e| <= atol + rtol * |e|` for each entry; pushes the first few failures to `failures`. */
export function compare(label: string, actual: ArrayLike<number>, expected: readonly number[], rec: Recording, failures: string[]): void {
  const { atol, rtol } = rec.tolerance;
  expected.forEach((e, i) => {
    const a = actual[i]!;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e)) && failures.length < 5) failures.push(`${label}[${i}]: got ${a}, expected ${e}`);
  });
}

/**
 * Runs every step of `rec` through `tx` (fused or composed) and checks the parameters after
 * each; returns the failures and the optimizer (for its state and path), to be disposed.
 */
export function runRecording(
  rec: Recording,
  tx: GradientTransformation<StateValue>,
  fused: boolean,
): { failures: string[]; opt: StatefulOptimizer<StateValue> } {
  const params = Object.fromEntries(Object.entries(rec.params).map(([k, p]) => [k, tf.tensor(p.values, p.shape, 'float32')]));
  const opt = statefulOptimizer(tx, params, { fused });
  tf.dispose(Object.values(params));
  const failures: string[] = [];
  rec.steps.forEach((step, t) => {
    const grads = Object.fromEntries(Object.entries(step.grads).map(([k, g]) => [k, tf.tensor(g, rec.params[k]!.shape, 'float32')]));
    opt.step(grads);
    tf.dispose(Object.values(grads));
    for (const [k, expected] of Object.entries(step.expected)) compare(`step ${t}, ${k}`, opt.params[k]!.dataSync(), expected, rec, failures);
  });
  return { failures, opt };
}
