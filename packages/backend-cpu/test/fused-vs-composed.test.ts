import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flattenState, statefulOptimizer, unflattenState, type GradientTransformation, type StateValue } from '@emosens/core';
import { adam, adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { registerCpuKernels } from '../src/index.js';
import { firstMismatch, lossSchedule, randomGradValues, randomShape, randomValues, seeded, stateSnapshot } from './helpers.js';


const optimizers: Record<string, () => GradientTransformation<StateValue>> = {
  emoSens: () => emoSens({ lr: 1e-2 }),
  'emoSens shadow': () => emoSens({ lr: 1e-2, useShadow: true }),
  emoAiry: () => emoAiry({ lr: 1e-2 }),
  'emoAiry shadow': () => emoAiry({ lr: 1e-2, useShadow: true, weightDecay: 0.1 }),
  emoCats: () => emoCats({ lr: 1e-3 }),
  'emoCats shadow decoupled': () => emoCats({ lr: 1e-3, useShadow: true, decoupledWeightDecay: true }),
  adam: () => adam({ lr: 1e-2 }),
  adamw: () => adamw({ lr: 1e-2, weightDecay: 0.05 }),
};

const STEPS = 300;

// 'exact' precision rounds as the composed ops do: the paths agree to the bit. 'fast'
// rounds only when storing: they agree within the golden tolerance.
describe.each([
  ['exact', 0, 0],
  ['fast', 1e-4, 1e-6],
] as const)('fused (%s) and composed paths agree', (precision, rtol, atol) => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerCpuKernels({ precision });
  });
  afterAll(() => unregister());

  Object.entries(optimizers).forEach(([label, make], k) => {
    it(`${label}: ${STEPS} random steps on parameters of rank 0 to 4`, () => {
      const rand = seeded(1000 + k);
      const shapes = [[], [7], randomShape(rand, 2), randomShape(rand, 3), randomShape(rand, 4)];
      const init: Record<string, tf.Tensor> = {};
      shapes.forEach((s, i) => (init[`p${i}`] = tf.tensor(randomValues(rand, tf.util.sizeFromShape(s)), s)));
      const fused = statefulOptimizer(make(), init);
      const composed = statefulOptimizer(make(), init, { fused: false });
      const emo = !label.startsWith('adam');
      let calmSeen = false;
      const regimes = new Set<string>();
      const lossAt = lossSchedule(rand, STEPS);
      for (let t = 0; t < STEPS; t++) {
        const grads: Record<string, tf.Tensor> = {};
        shapes.forEach((s, i) => (grads[`p${i}`] = tf.tensor(randomGradValues(rand, tf.util.sizeFromShape(s)), s)));
        const lossValue = lossAt(t);
        // every other step hands the loss as a scalar tensor
        const loss = t % 2 === 0 ? lossValue : tf.scalar(lossValue);
        fused.step(grads, { loss });
        composed.step(grads, { loss });
        expect(fused.path).toBe('fused');
        expect(composed.path).toBe('composed');
        tf.dispose([...Object.values(grads), ...(typeof loss === 'number' ? [] : [loss])]);
        for (const name of Object.keys(init)) {
          const a = fused.params[name]!.dataSync();
          const e = composed.params[name]!.dataSync();
          const i = firstMismatch(a, e, rtol, atol);
          if (i >= 0) expect.fail(`step ${t}, ${name}[${i}]: fused ${a[i]} vs composed ${e[i]}`);
        }
        if (emo) {
          // the emotion is scalar code, float32 exact at both precisions
          expect(fused.readSignal('emotion')).toBe(composed.readSignal('emotion'));
          expect(fused.readSignal('calm')).toBe(composed.readSignal('calm'));
          calmSeen ||= fused.readSignal('calm') === 1;
          const s = Math.abs(fused.readSignal('emotion')!);
          if (s > 0.6) regimes.add('high');
          else if (s > 0.1) regimes.add('mid');
          else regimes.add('low');
        }
      }
      if (emo) {
        // the run crossed every branch: both shadow ratio pieces, no shadow, and calm
        expect([...regimes].sort()).toEqual(['high', 'low', 'mid']);
        expect(calmSeen).toBe(true);
      }
      if (label.includes('shadow')) {
        for (const [path, v] of stateSnapshot(fused.state)) if (path.endsWith('/taken')) expect(v).toEqual([1]);
      }
      const a = stateSnapshot(fused.state);
      const e = stateSnapshot(composed.state);
      expect([...a.keys()]).toEqual([...e.keys()]);
      for (const [path, expected] of e) {
        const i = firstMismatch(a.get(path)!, expected, rtol, atol);
        if (i >= 0) expect.fail(`final state ${path}[${i}]: fused ${a.get(path)![i]} vs composed ${expected[i]}`);
      }
      fused.dispose();
      composed.dispose();
      tf.dispose(Object.values(init));
    });
  });

  it('steps with gradients for only some parameters (allowMissing) agree too', () => {
    const rand = seeded(21);
    const shapes: Record<string, number[]> = { m: [4, 3], v: [5], t: [2, 2, 2] };
    const init = Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, tf.tensor(randomValues(rand, tf.util.sizeFromShape(s)), s)]));
    for (const make of [() => emoAiry({ useShadow: true }), () => emoSens(), () => emoCats({ useShadow: true }), () => adamw()]) {
      const fused = statefulOptimizer(make(), init, { allowMissing: true });
      const composed = statefulOptimizer(make(), init, { allowMissing: true, fused: false });
      const lossAt = lossSchedule(rand, 40);
      for (let t = 0; t < 40; t++) {
        const names = Object.keys(shapes).filter((_, i) => (t + i) % 3 !== 0); // each step leaves one parameter out
        const grads = Object.fromEntries(names.map((n) => [n, tf.tensor(randomGradValues(rand, tf.util.sizeFromShape(shapes[n]!)), shapes[n]!)]));
        const loss = lossAt(t);
        fused.step(grads, { loss });
        composed.step(grads, { loss });
        tf.dispose(Object.values(grads));
      }
      expect(fused.path).toBe('fused');
      const a = stateSnapshot(fused.state);
      for (const [path, expected] of stateSnapshot(composed.state)) expect([path, firstMismatch(a.get(path)!, expected, rtol, atol)]).toEqual([path, -1]);
      for (const n of Object.keys(shapes)) expect(firstMismatch(fused.params[n]!.dataSync(), composed.params[n]!.dataSync(), rtol, atol)).toBe(-1);
      fused.dispose();
      composed.dispose();
    }
    tf.dispose(Object.values(init));
  });

  it('a state saved on one path resumes on the other', () => {
    const rand = seeded(7);
    const shapes: Record<string, number[]> = { w: [3, 4], b: [4] };
    const init = { w: tf.tensor(randomValues(rand, 12), [3, 4]), b: tf.tensor(randomValues(rand, 4), [4]) };
    const lossAt = lossSchedule(rand, 40);
    const steps = Array.from({ length: 40 }, (_, t) => ({
      loss: lossAt(t),
      grads: Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, tf.tensor(randomGradValues(rand, tf.util.sizeFromShape(s)), s)])),
    }));
    const make = () => emoAiry({ lr: 1e-2, useShadow: true });
    const before = tf.memory().numTensors;
    const reference = statefulOptimizer(make(), init, { fused: false });
    steps.forEach(({ grads, loss }) => reference.step(grads, { loss }));

    // 20 steps on one path, a checkpoint (clones of the leaves), 20 steps on the other
    for (const [first, second] of [[true, false], [false, true]] as const) {
      const a = statefulOptimizer(make(), init, { fused: first });
      steps.slice(0, 20).forEach(({ grads, loss }) => a.step(grads, { loss }));
      const leaves = new Map(flattenState(a.state).map((l) => [l.path, typeof l.value === 'object' ? tf.clone(l.value) : l.value]));
      const start = Object.fromEntries(Object.entries(a.params).map(([n, p]) => [n, tf.clone(p)]));
      const b = statefulOptimizer(make(), start, { fused: second });
      b.setState(unflattenState(b.state, leaves));
      steps.slice(20).forEach(({ grads, loss }) => b.step(grads, { loss }));
      expect(b.path).toBe(second ? 'fused' : 'composed');
      for (const n of Object.keys(shapes)) expect(firstMismatch(b.params[n]!.dataSync(), reference.params[n]!.dataSync(), rtol, atol)).toBe(-1);
      a.dispose();
      b.dispose();
      tf.dispose(Object.values(start));
    }
    reference.dispose();
    expect(tf.memory().numTensors).toBe(before);
    steps.forEach(({ grads }) => tf.dispose(Object.values(grads)));
    tf.dispose(Object.values(init));
  });
});
