import * as tf from '@tensorflow/tfjs-core';
import {
  chain,
  disposeReplaced,
  explainFusion,
  flattenState,
  runTransform,
  statefulOptimizer,
  type GradientTransformation,
  type Params,
  type StateValue,
} from '@emosens/core';
import { scaleByAdam } from '@emosens/moments';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle.
import { registerCpuKernels } from '../../../backend-cpu/src/index.js';
import { applyIfFinite, scaleByLearningRate } from '../../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());
/** Every leaf of a state as plain numbers, by path. */
const values = (s: StateValue) => flattenState(s).map((l) => [l.path, typeof l.value === 'object' ? Array.from((l.value as tf.Tensor).dataSync()) : l.value]);

/** Runs `tx` over `grads` (each a map of 1-d gradients), threading the state; returns each step's updates and the final state. */
function steps<S extends StateValue>(tx: GradientTransformation<S>, params: Params, grads: Record<string, number[]>[]) {
  let state = tx.init(params);
  const out: Record<string, number[]>[] = [];
  for (const g of grads) {
    const r = runTransform(tx, params, state, Object.fromEntries(Object.entries(g).map(([k, x]) => [k, tf.tensor1d(x)])));
    out.push(Object.fromEntries(Object.entries(r.updates).map(([k, u]) => [k, v(u)])));
    disposeReplaced(state, r.state);
    state = r.state;
  }
  return { out, state };
}

const adam = () => chain(scaleByAdam(), scaleByLearningRate(0.1));

describe('applyIfFinite: hand-derived', () => {
  it('finite steps are the inner block alone, bit for bit', () => {
    const params = { w: tf.tensor1d([1, 2]), b: tf.tensor1d([3]) };
    const grads = [{ w: [0.5, -1], b: [2] }, { w: [0.25, 3], b: [-1] }, { w: [1, 1], b: [0] }];
    const wrapped = steps(applyIfFinite(adam(), { maxConsecutiveErrors: 0 }), params, grads);
    const alone = steps(adam(), params, grads);
    expect(wrapped.out).toEqual(alone.out);
    expect(values(wrapped.state.inner)).toEqual(values(alone.state));
    expect(v(wrapped.state.notFiniteCount)).toEqual([0]);
    expect(v(wrapped.state.lastFinite)).toEqual([1]);
  });

  it('a NaN gradient gives zero updates and keeps the inner state as it was', () => {
    const params = { w: tf.tensor1d([1, 2]), b: tf.tensor1d([3]) };
    const tx = applyIfFinite(adam(), { maxConsecutiveErrors: 3 });
    const before = steps(tx, params, [{ w: [0.5, -1], b: [2] }]);
    const after = steps(tx, params, [{ w: [0.5, -1], b: [2] }, { w: [NaN, 1], b: [1] }]);
    expect(after.out[1]).toEqual({ w: [0, 0], b: [0] });
    expect(values(after.state.inner)).toEqual(values(before.state.inner)); // moments and count unchanged
    expect(v(after.state.notFiniteCount)).toEqual([1]);
    expect(v(after.state.lastFinite)).toEqual([0]);
    expect(v(after.state.totalNotFinite)).toEqual([1]);
    // an Infinity in the inner block's output counts too: lr * 1e38 * 1e38 overflows
    const overflow = steps(applyIfFinite(scaleByLearningRate(1e38), { maxConsecutiveErrors: 1 }), { w: tf.zeros([1]) }, [{ w: [1e38] }]);
    expect(overflow.out[0]).toEqual({ w: [0] });
  });

  it('applies the step anyway after more than maxConsecutiveErrors non-finite steps in a row, then counts from 0', () => {
    const params = { w: tf.tensor1d([1]) };
    const tx = applyIfFinite(scaleByLearningRate(1), { maxConsecutiveErrors: 2 });
    const r = steps(tx, params, [{ w: [NaN] }, { w: [Infinity] }, { w: [NaN] }, { w: [2] }, { w: [NaN] }]);
    // counts 1, 2 (skipped), 3 > 2 (applied: NaN goes through), then finite (0), then 1 (skipped)
    expect(r.out.map((u) => u.w![0])).toEqual([0, 0, NaN, -2, 0]);
    expect(v(r.state.notFiniteCount)).toEqual([1]);
    expect(v(r.state.totalNotFinite)).toEqual([4]);
  });

  it('host numbers in the inner state still advance on a skipped step', () => {
    const tx = applyIfFinite(scaleByLearningRate((t) => t + 1), { maxConsecutiveErrors: 5 });
    const r = steps(tx, { w: tf.zeros([1]) }, [{ w: [NaN] }, { w: [1] }]);
    expect(r.state.inner).toEqual({ count: 2 });
    expect(r.out[1]).toEqual({ w: [-2] }); // lr(1) = 2: the schedule moved on the skipped step
  });

  it('runs an inner block without a fused form (tf ops, the same rule)', () => {
    const noFusion = { name: 'double', init: () => ({ n: tf.scalar(0) }), update: (u: Params, s: { n: tf.Scalar }) => ({ updates: Object.fromEntries(Object.entries(u).map(([k, x]) => [k, tf.mul(x, 2)])), state: { n: tf.add(s.n, 1) as tf.Scalar } }) };
    const tx = applyIfFinite(noFusion, { maxConsecutiveErrors: 1 });
    expect(explainFusion(tx as GradientTransformation<StateValue>, 'cpu')).toMatchObject({ fused: false });
    const r = steps(tx, { w: tf.zeros([2]) }, [{ w: [1, 2] }, { w: [NaN, 2] }, { w: [3, 4] }]);
    expect(r.out).toEqual([{ w: [2, 4] }, { w: [0, 0] }, { w: [6, 8] }]);
    expect(v(r.state.inner.n)).toEqual([2]); // the skipped step left n as it was
    expect(v(r.state.totalNotFinite)).toEqual([1]);
  });

  it('refuses a maxConsecutiveErrors that is not an integer >= 0, naming it', () => {
    expect(() => applyIfFinite(adam(), { maxConsecutiveErrors: -1 })).toThrow(/applyIfFinite: option 'maxConsecutiveErrors' must be an integer >= 0/);
    expect(() => applyIfFinite(adam(), { maxConsecutiveErrors: 0.5 })).toThrow(/maxConsecutiveErrors/);
    expect(() => applyIfFinite(adam(), {} as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it('leaks nothing, skipped or not', () => {
    const tx = applyIfFinite(adam(), { maxConsecutiveErrors: 1 });
    const params = { w: tf.ones([3]) };
    let state = tx.init(params);
    const before = tf.memory().numTensors;
    for (const g of [[1, 2, 3], [NaN, 1, 1], [1, 1, 1]]) {
      const grads = { w: tf.tensor1d(g) };
      const r = runTransform(tx, params, state, grads);
      disposeReplaced(state, r.state);
      tf.dispose([...Object.values(r.updates), ...Object.values(grads)]);
      state = r.state;
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('applyIfFinite: fused on the typed-array target', () => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerCpuKernels({ precision: 'exact' });
  });
  afterAll(() => unregister());

  it('fused == composed bit for bit over finite and non-finite steps, and nothing leaks per step', () => {
    const make = () => applyIfFinite(chain(scaleByAdam(), scaleByLearningRate((t) => 0.05 / (t + 1))), { maxConsecutiveErrors: 1 }) as GradientTransformation<StateValue>;
    expect(explainFusion(make(), 'cpu')).toEqual({ fused: true, target: 'typed-array' });
    const init = { w: [0.5, -1, 2, 0.25, -0.75, 1.5], b: [0.1, -0.2] };
    const makeParams = () => ({ w: tf.variable(tf.tensor(init.w, [2, 3])), b: tf.variable(tf.tensor(init.b)) });
    const pf = makeParams();
    const pc = makeParams();
    const fusedOpt = statefulOptimizer(make(), pf);
    const composedOpt = statefulOptimizer(make(), pc, { fused: false });
    let before = 0;
    // steps 3 and 6, 7: a NaN gradient (7 is the second in a row, so it is applied: maxConsecutiveErrors 1)
    const bad = new Set([3, 6, 7]);
    let afterStep2: number[] = [];
    for (let t = 0; t < 10; t++) {
      if (t === 1) before = tf.memory().numTensors;
      const g = {
        w: tf.tensor(init.w.map((x, i) => (bad.has(t) && i === 2 ? NaN : Math.sin(x + i + t))), [2, 3]),
        b: tf.tensor1d(init.b.map((x, i) => Math.cos(x + i * t))),
      };
      fusedOpt.step(g);
      composedOpt.step(g);
      tf.dispose(Object.values(g));
      expect(fusedOpt.path).toBe('fused');
      if (t === 2) afterStep2 = v(pf.w);
      if (t === 3) expect(v(pf.w)).toEqual(afterStep2); // skipped: parameters as they were
      expect(v(pf.w)).toEqual(v(pc.w));
      expect(v(pf.b)).toEqual(v(pc.b));
      expect(values(fusedOpt.state)).toEqual(values(composedOpt.state));
    }
    expect(v(pf.w).some(Number.isNaN)).toBe(true); // step 7 went through
    expect(tf.memory().numTensors).toBe(before);
    fusedOpt.dispose();
    composedOpt.dispose();
    tf.dispose([...Object.values(pf), ...Object.values(pc)]);
  });
});
