// Test helpers for blocks that read host values (publishValue / readValue), shared by the
// packages' tests by source path (a package dependency would close a cycle).
import * as tf from '@tensorflow/tfjs-core';
import { composedUpdate, statefulOptimizer, type FusionForm, type GradientTransformation, type StateValue } from '@emosens/core';
import { expect } from 'vitest';

/**
 * A test block at the head of a chain: on step t it publishes the host values `values[t]`
 * (e.g. `{ emotion, trust }`) through `context.publishValue`, as `trackEmotionV3()` does.
 */
export function publishValues(values: readonly Readonly<Record<string, number>>[]): GradientTransformation<{ readonly t: number }> {
  const name = 'publishValues';
  const fusion: FusionForm = {
    update(updates, state, _params, context) {
      const t = (state as { t: number }).t;
      for (const [key, x] of Object.entries(values[t] ?? {})) context.publishValue(key, x, name);
      return { updates, state: { t: t + 1 } };
    },
  };
  return { name, init: () => ({ t: 0 }), update: composedUpdate(name, fusion), fusion };
}

/** A parameter for the helpers: values and shape. */
export type Param = { readonly values: readonly number[]; readonly shape: readonly number[] };

/**
 * Runs `steps` steps of `make()` from `params` with `grads(t, name)`, fused or composed, and
 * returns the parameters' values after every step; checks that no step leaves a tensor behind.
 */
export function trajectory(
  make: () => GradientTransformation<StateValue>,
  params: Readonly<Record<string, Param>>,
  grads: (t: number, name: string, size: number) => number[],
  steps: number,
  fused: boolean,
): Record<string, number[]>[] {
  const vars = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.variable(tf.tensor([...p.values], [...p.shape]))]));
  const opt = statefulOptimizer(make(), vars, { fused });
  const out: Record<string, number[]>[] = [];
  const before = tf.memory().numTensors;
  for (let t = 0; t < steps; t++) {
    const g = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tensor(grads(t, k, p.values.length), [...p.shape])]));
    opt.step(g);
    tf.dispose(Object.values(g));
    expect(opt.path).toBe(fused ? 'fused' : 'composed');
    out.push(Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, Array.from(v.dataSync())])));
  }
  expect(tf.memory().numTensors).toBe(before);
  opt.dispose();
  tf.dispose(Object.values(vars));
  return out;
}

/** `|a - b| <= atol + rtol |b|` elementwise, over every parameter of every step. */
export function expectTrajectoryClose(
  actual: readonly Record<string, readonly number[]>[],
  expected: readonly Record<string, readonly number[]>[],
  atol = 1e-6,
  rtol = 1e-5,
): void {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((step, t) => {
    for (const [k, values] of Object.entries(step)) {
      values.forEach((e, i) => {
        const a = actual[t]![k]![i]!;
        if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) expect.fail(`step ${t + 1}, '${k}'[${i}]: ${a} is not within ${atol} + ${rtol} |e| of ${e}`);
      });
    }
  });
}
