import * as tf from '@tensorflow/tfjs-core';
import { explainFusion, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { expect } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle
// (backend-cpu's tests depend on @emosens/modifiers), which turbo refuses.
import { registerCpuKernels } from '../../backend-cpu/src/index.js';

/** A parameter for the helpers: values and shape. */
export type Param = { readonly values: readonly number[]; readonly shape: readonly number[] };

/**
 * One composed step of `tx` (`statefulOptimizer(tx, params, { fused: false })`) from `params`
 * with `grads`: returns each parameter's update (its change) and checks that the step leaves
 * no tensor behind.
 */
export function updatesOf(
  tx: GradientTransformation<StateValue>,
  params: Readonly<Record<string, Param>>,
  grads: Readonly<Record<string, readonly number[]>>,
): Record<string, number[]> {
  const vars = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.variable(tf.tensor([...p.values], [...p.shape]))]));
  const opt = statefulOptimizer(tx, vars, { fused: false });
  const g = Object.fromEntries(Object.entries(grads).map(([k, x]) => [k, tf.tensor([...x], [...params[k]!.shape])]));
  const before = tf.memory().numTensors;
  opt.step(g);
  expect(tf.memory().numTensors).toBe(before);
  expect(opt.path).toBe('composed');
  const out = Object.fromEntries(Object.entries(vars).map(([k, p]) => [k, Array.from(p.dataSync()).map((x, i) => x - Math.fround(params[k]!.values[i]!))]));
  opt.dispose();
  tf.dispose([...Object.values(vars), ...Object.values(g)]);
  return out;
}

export function expectClose(actual: readonly number[] | undefined, expected: readonly number[], digits = 6): void {
  expect(actual).toHaveLength(expected.length);
  actual!.forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, digits));
}

/** L2 norm in float64. */
export const norm = (x: readonly number[]) => Math.sqrt(x.reduce((a, b) => a + b * b, 0));

/**
 * `make()` fuses on the typed-array target ('exact'), and 8 fused steps give the composed
 * steps' parameters bit for bit; nothing leaks per step.
 */
export function expectFusedEqualsComposed(make: () => GradientTransformation<StateValue>, params: Readonly<Record<string, Param>>): void {
  const unregister = registerCpuKernels({ precision: 'exact' });
  try {
    expect(explainFusion(make(), 'cpu')).toEqual({ fused: true, target: 'typed-array' });
    const makeParams = () => Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.variable(tf.tensor([...p.values], [...p.shape]))]));
    const pf = makeParams();
    const pc = makeParams();
    const fused = statefulOptimizer(make(), pf);
    const composed = statefulOptimizer(make(), pc, { fused: false });
    const before = tf.memory().numTensors;
    for (let t = 0; t < 8; t++) {
      // gradients of changing size, so clipping engages on some steps and not on others
      const size = t % 3 === 0 ? 4 : 0.05;
      const g = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tensor(p.values.map((x, i) => (i % 5 === 4 ? 0 : size * Math.sin(x + i + t))), [...p.shape])]));
      fused.step(g);
      composed.step(g);
      tf.dispose(Object.values(g));
    }
    expect(fused.path).toBe('fused');
    expect(composed.path).toBe('composed');
    for (const k of Object.keys(params)) {
      expect(Array.from(pf[k]!.dataSync())).toEqual(Array.from(pc[k]!.dataSync()));
      expect(Array.from(pf[k]!.dataSync())).not.toEqual(params[k]!.values.map(Math.fround));
    }
    expect(tf.memory().numTensors).toBe(before);
    fused.dispose();
    composed.dispose();
    tf.dispose([...Object.values(pf), ...Object.values(pc)]);
  } finally {
    unregister();
  }
}
