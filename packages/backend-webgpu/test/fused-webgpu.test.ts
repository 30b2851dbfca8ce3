import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import {
  applyStep,
  chain,
  disposeReplaced,
  disposeState,
  explainFusion,
  flattenState,
  fx,
  isTensor,
  stateless,
  statefulOptimizer,
  type GradientTransformation,
  type Signals,
  type StateValue,
} from '@emosens/core';
import { fixedEmotion } from '@emosens/emotion';
import { addDecayedWeights, cautious, scaleByLearningRate } from '@emosens/modifiers';
import { rootFiltered, scaleByAdam } from '@emosens/moments';
import { adam, adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lastWebGpuDecline, lastWebGpuStep, waitForWebGpu } from '../src/index.js';
import { cachedPipelineCount } from '../src/target/step-recorder.js';
import { useWebGpuKernels, webgpu } from './webgpu.js';

type Factory = () => GradientTransformation<StateValue>;
const OPTIMIZERS: Record<string, Factory> = {
  emoSens: () => emoSens({ lr: 0.01 }),
  'emoSens+shadow': () => emoSens({ lr: 0.01, useShadow: true }),
  emoAiry: () => emoAiry({ lr: 0.01 }),
  'emoAiry+shadow': () => emoAiry({ lr: 0.01, useShadow: true }),
  emoCats: () => emoCats({ lr: 0.001 }),
  'emoCats+shadow+decoupled': () => emoCats({ lr: 0.001, useShadow: true, decoupledWeightDecay: true }),
  adamw: () => adamw({ lr: 0.01 }),
  adam: () => adam({ lr: 0.01 }),
  // chains no kernel was ever written for
  'chain(scaleByAdam(), addDecayedWeights(0.01), scaleByLearningRate(1e-2))': () =>
    chain(scaleByAdam(), addDecayedWeights(0.01), scaleByLearningRate(1e-2)) as GradientTransformation<StateValue>,
  'chain(cautious(scaleByAdam()), scaleByLearningRate(schedule))': () =>
    chain(cautious(scaleByAdam()), scaleByLearningRate((t: number) => 1e-2 / (1 + 0.1 * t))) as GradientTransformation<StateValue>,
  'chain(fixedEmotion(0.3), rootFiltered(scaleByAdam()), scaleByLearningRate(1e-2))': () =>
    chain(fixedEmotion(0.3), rootFiltered(scaleByAdam()), scaleByLearningRate(1e-2)) as GradientTransformation<StateValue>,
};

/** Deterministic values in [-1, 1), with some tiny entries so the root filter masks them. */
function values(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out[i] = i % 17 === 3 ? 1e-14 : (x / 2147483648) * 2 - 1;
  }
  return out;
}

/** Ranks 0 to 4 and a `[1]`, a matrix larger than a workgroup. */
const SHAPES: Record<string, number[]> = { w: [67, 45], b: [45], k: [3, 2, 4], q: [2, 3, 2, 2], one: [1], s: [] };

function initialParams(): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(SHAPES).map(([n, shape], i) => [n, tf.tensor(values(tf.util.sizeFromShape(shape), i + 1), shape)]));
}

function gradsAt(step: number): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(SHAPES).map(([n, shape], i) => [n, tf.tensor(values(tf.util.sizeFromShape(shape), 100 * step + i + 7), shape)]));
}

/** A loss that rises then falls, so the emotion scalar and the shadow both move. */
const lossAt = (step: number) => 2 + Math.sin(step / 2) + (step === 5 ? 4 : 0);

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, rtol = 1e-4, atol = 1e-6) {
  expect(actual.length, label).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    if (!(Math.abs(actual[i]! - e) <= atol + rtol * Math.abs(e))) throw new Error(`${label}[${i}]: expected ${e}, got ${actual[i]}`);
  }
}

/** Spies on every way the webgpu backend reads a tensor back. */
function spyOnReads() {
  const backend = tf.backend() as unknown as Record<string, (...args: unknown[]) => unknown>;
  const spies = ['read', 'readSync', 'getBufferData', 'readToGPU'].filter((m) => typeof backend[m] === 'function').map((m) => vi.spyOn(backend, m as never));
  expect(spies.length).toBeGreaterThanOrEqual(3);
  return spies;
}

describe.skipIf(!webgpu.ok)('the WGSL fusion target', () => {
  useWebGpuKernels();
  afterEach(() => vi.restoreAllMocks());

  for (const [name, make] of Object.entries(OPTIMIZERS)) {
    it(`${name}: agrees with the composed ops on webgpu over 12 steps (ranks 0 to 4, [1]), with the same state layout`, async () => {
      const init = initialParams();
      const fused = statefulOptimizer(make(), init);
      const composed = statefulOptimizer(make(), init, { fused: false });
      for (let t = 0; t < 12; t++) {
        const grads = gradsAt(t);
        const loss = tf.scalar(lossAt(t));
        fused.step(grads, { loss: t % 3 === 2 ? lossAt(t) : loss });
        composed.step(grads, { loss: t % 3 === 2 ? lossAt(t) : loss });
        expect(fused.path, lastWebGpuDecline()).toBe('fused');
        tf.dispose([...Object.values(grads), loss]);
      }
      for (const p of Object.keys(SHAPES)) expectClose(await fused.params[p]!.data(), await composed.params[p]!.data(), `${name} ${p}`);
      const a = flattenState(fused.state);
      const b = flattenState(composed.state);
      expect(a.map((l) => l.path)).toEqual(b.map((l) => l.path));
      for (let i = 0; i < a.length; i++) {
        const x = a[i]!.value;
        const y = b[i]!.value;
        if (isTensor(x) && isTensor(y)) {
          expect(x.shape, a[i]!.path).toEqual(y.shape);
          expect(x.dtype, a[i]!.path).toBe(y.dtype);
          expectClose(await x.data(), await y.data(), `${name} state ${a[i]!.path}`);
        } else {
          expect(x, a[i]!.path).toEqual(y);
        }
      }
      for (const s of Object.keys(composed.signals) as (keyof Signals)[]) {
        expectClose(await (fused.signals[s] as tf.Tensor).data(), await (composed.signals[s] as tf.Tensor).data(), `${name} signal ${s}`);
      }
      // the initial tensors were copied before the first in-place write, never changed
      for (const [p, t] of Object.entries(init)) expect(Array.from(await t.data())).toEqual(Array.from(values(t.size, Object.keys(SHAPES).indexOf(p) + 1)));
      fused.dispose();
      composed.dispose();
      tf.dispose(Object.values(init));
    });
  }

  it('never reads back during fused steps with a tensor loss, and leaks no tensors', async () => {
    const w = tf.variable(tf.tensor(values(6 * 8, 3), [6, 8]));
    const b = tf.variable(tf.zeros([8]));
    const x = tf.tensor(values(10 * 6, 4), [10, 6]);
    const lossOf = () => tf.mean(tf.square(tf.add(tf.matMul(x, w), b))) as tf.Scalar;
    for (const make of [() => emoSens({ useShadow: true }), () => emoAiry(), () => emoCats({ useShadow: true }), () => adamw(), OPTIMIZERS['chain(cautious(scaleByAdam()), scaleByLearningRate(schedule))']!]) {
      const opt = statefulOptimizer(make(), { w, b });
      const step = () => {
        const { value, grads } = tf.variableGrads(lossOf, [w, b]);
        opt.step({ w: grads[w.name]!, b: grads[b.name]! }, { loss: value });
        tf.dispose([value, ...Object.values(grads)]);
      };
      step(); // first step: copies and pipelines
      await opt.params.w!.data();
      const spies = spyOnReads();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 10; i++) step();
      expect(opt.path).toBe('fused');
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
      expect(tf.memory().numTensors).toBe(before);
      vi.restoreAllMocks();
      opt.dispose();
    }
    const finalW = await w.data();
    expect(finalW.every(Number.isFinite)).toBe(true);
    tf.dispose([w, b, x]);
  });

  it('keeps tensors and bytes flat over 100 steps, with a signal that is not state (a new scalar each step)', () => {
    const init = initialParams();
    const opt = statefulOptimizer(OPTIMIZERS['chain(fixedEmotion(0.3), rootFiltered(scaleByAdam()), scaleByLearningRate(1e-2))']!(), init);
    const grads = gradsAt(1);
    opt.step(grads, { loss: 1 });
    const tensors = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    for (let t = 0; t < 100; t++) opt.step(grads, { loss: 1 });
    expect(opt.path).toBe('fused');
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.memory().numBytes).toBe(bytes);
    tf.dispose([...Object.values(grads), ...Object.values(init)]);
    opt.dispose();
  });

  it('advances every step count on the device exactly once per step, however many parameters', async () => {
    // 20 parameters of 300 entries: dispatches of several workgroups each, any of which
    // would double-count if a count were advanced per element.
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`p${k}`, tf.tensor(values(300, k + 1), k % 2 ? [300] : [15, 20])]));
    const cases: [Factory, string[]][] = [
      [() => emoSens({ useShadow: true }), ['emotion/count', 'step/inner/direction/count']],
      [() => emoAiry(), ['emotion/count', 'step/direction/dense/count']],
      [() => emoCats(), ['emotion/count']],
      [() => adamw(), ['moments/count']],
    ];
    for (const [make, countPaths] of cases) {
      const opt = statefulOptimizer(make(), many);
      for (let t = 0; t < 5; t++) {
        const grads = Object.fromEntries(Object.entries(many).map(([n, p], k) => [n, tf.tensor(values(300, 50 * t + k), p.shape)]));
        const loss = tf.scalar(lossAt(t));
        opt.step(grads, { loss });
        expect(opt.path, lastWebGpuDecline()).toBe('fused');
        tf.dispose([...Object.values(grads), loss]);
      }
      const counts = flattenState(opt.state).filter((l) => l.path.endsWith('/count'));
      expect(counts.map((l) => l.path)).toEqual(countPaths);
      for (const { path, value } of counts) {
        if (!isTensor(value)) throw new Error(`${path} is not a tensor`);
        expect(value.dtype, path).toBe('float32');
        expect(Array.from(await value.data()), path).toEqual([5]);
      }
      opt.dispose();
    }
    tf.dispose(Object.values(many));
  });

  it("computes AdamW's bias corrections on the device from the count, accurate to float32 at any step", async () => {
    // One step from zero moments with g = 1, eps ~ 0, weightDecay = 0, lr = 1 and p = 0:
    //   m = 1 - b1,  v = 1 - b2,  p' = -(m / bc1) / (sqrt(v) / sqrt(bc2)),  bc_i = 1 - b_i^t,  t = count + 1.
    // At t = 1 with b2 = 0.999, `exp(t ln b2) - 1` in float32 is off by ~6e-5 relative
    // (cancellation), so the 3e-6 tolerance also proves the shader's expm1 is accurate.
    const b1 = 0.9;
    const b2 = 0.999;
    // adamw refuses eps: 0 (a zero gradient would give 0/0); 1e-30 vanishes next to sqrt(v) ~ 0.03 in float32.
    const tx = adamw({ lr: 1, betas: [b1, b2], eps: 1e-30, weightDecay: 0 });
    for (const count of [0, 1, 9, 999, 99_999]) {
      const p = tf.variable(tf.zeros([3]));
      const g = tf.ones([3]);
      const opt = statefulOptimizer(tx, { p });
      const state = opt.state as { moments: { count: tf.Tensor } };
      state.moments.count.dispose();
      (state.moments as { count: tf.Tensor }).count = tf.scalar(count);
      opt.step({ p: g });
      expect(opt.path, lastWebGpuDecline()).toBe('fused');
      const t = count + 1;
      const m = Math.fround(1 - b1);
      const v = Math.fround(1 - b2);
      const expected = -(m / -Math.expm1(t * Math.log(b1))) / (Math.sqrt(v) / Math.sqrt(-Math.expm1(t * Math.log(b2))));
      for (const x of await p.data()) expect(Math.abs(x - expected) / Math.abs(expected), `count ${count}`).toBeLessThan(3e-6);
      expect(Array.from(await (opt.state as { moments: { count: tf.Tensor } }).moments.count.data())).toEqual([t]);
      opt.dispose();
      tf.dispose([p, g]);
    }
  });

  it('runs the ops of the graph as the op table says: expm1, tanh, sign and pow accurate to float32 and defined where WGSL is not', async () => {
    // p = 0, one step of `u = f(g)`, so p' = f(g) exactly; each f against JavaScript's Math in float64.
    const cases: [string, (g: tf.Tensor) => tf.Tensor, (g: ReturnType<typeof fx.const>) => ReturnType<typeof fx.const>, (x: number) => number, number[], number][] = [
      ['expm1', (g) => tf.expm1(g), (g) => fx.expm1(g), Math.expm1, [1e-6, -3e-4, 0.01, 0.3, -0.49, 0.5, 0.7, -2, 5], 4e-7],
      ['tanh', (g) => tf.tanh(g), (g) => fx.tanh(g), Math.tanh, [1e-6, -3e-4, 0.01, 0.1, 0.4, -0.6, 2, -9, 30], 4e-7],
      ['sign', (g) => tf.sign(g), (g) => fx.sign(g), Math.sign, [3e-12, -1e-30, 0, 5, -7], 0],
      ['cube root of |g|', (g) => tf.pow(tf.abs(g), 1 / 3), (g) => fx.pow(fx.abs(g), 1 / 3), (x) => Math.cbrt(Math.abs(x)), [1e-14, 3e-12, 0, 0.5, -8, 1e6], 1e-6],
      ['g^3 (a negative base, integer power)', (g) => tf.pow(g, 3), (g) => fx.pow(g, 3), (x) => x ** 3, [-2, -0.5, 0, 1.5], 1e-6],
      ['g^0', (g) => tf.pow(g, 0), (g) => fx.pow(g, 0), () => 1, [-2, 0, 3], 0],
      ['g^-1 at 0 and below', (g) => tf.pow(g, -1), (g) => fx.pow(g, -1), (x) => 1 / x, [0, -4, 0.25], 1e-6],
    ];
    for (const [name, composed, fused, reference, inputs, rtol] of cases) {
      const tx = stateless(`test ${name}`, (u) => composed(u), (u) => fused(u));
      const p = tf.variable(tf.zeros([inputs.length]));
      const g = tf.tensor(inputs);
      const r = applyStep(tx, { p }, tx.init({ p }), { p: g });
      expect(r.path, `${name}: ${lastWebGpuDecline()}`).toBe('fused');
      const got = await p.data();
      inputs.forEach((x, i) => {
        const e = reference(Math.fround(x));
        if (!Number.isFinite(e) || rtol === 0) expect(got[i], `${name}(${x})`).toBe(Math.fround(e));
        else expect(Math.abs(got[i]! - e), `${name}(${x}) = ${got[i]}, expected ${e}`).toBeLessThanOrEqual(rtol * Math.abs(e) + 1e-45);
      });
      tf.dispose([p, g]);
    }
  });

  it('decides a root filter test pow(|g|, c) >= t per step (one cutoff) exactly as the per-element pow does', async () => {
    // the 81 float32 values around t^3 and around the cutoff of a strict test of g^2
    const around = (x: number) => {
      const bits = new Uint32Array(Float32Array.of(x).buffer)[0]!;
      return Array.from({ length: 81 }, (_, k) => new Float32Array(Uint32Array.of(bits - 40 + k).buffer)[0]!);
    };
    const t = 1e-4;
    for (const [name, fused, composed, inputs] of [
      ['|g|^(1/3) >= t', (g: ReturnType<typeof fx.const>) => fx.ge(fx.pow(fx.abs(g), 1 / 3), t), (g: tf.Tensor) => tf.cast(tf.greaterEqual(tf.pow(tf.abs(g), 1 / 3), t), 'float32'), around(1e-12)],
      ['(g^2)^(1/3) > t', (g: ReturnType<typeof fx.const>) => fx.gt(fx.pow(fx.mul(g, g), 1 / 3), t), (g: tf.Tensor) => tf.cast(tf.greater(tf.pow(tf.square(g), 1 / 3), t), 'float32'), around(-1e-6)],
    ] as const) {
      const tx = stateless(`test ${name}`, composed, fused);
      const p = tf.variable(tf.zeros([inputs.length]));
      const g = tf.tensor(inputs);
      const r = applyStep(tx, { p }, tx.init({ p }), { p: g });
      expect(r.path).toBe('fused');
      expect(lastWebGpuStep()!.programs).toEqual(['scalar', 'elem p', 'elem p tail']); // the cutoff, then the test (80 four-wide, 1 alone)
      const expected = tf.tidy(() => composed(g));
      const decided = await p.data();
      expect(Array.from(decided), name).toEqual(Array.from(await expected.data()));
      expect(new Set(decided).size, `${name}: both outcomes occur`).toBe(2);
      tf.dispose([p, g, expected]);
    }
  });

  it('records one program for the values that are not per element, one per parameter and one for the writes', () => {
    const init = initialParams();
    const programs = (make: Factory) => {
      const opt = statefulOptimizer(make(), init);
      const grads = gradsAt(0);
      opt.step(grads, { loss: 1 });
      tf.dispose(Object.values(grads));
      opt.dispose();
      expect(opt.path).toBe('fused');
      expect(lastWebGpuStep()!.dispatches).toBe(lastWebGpuStep()!.programs.length);
      return lastWebGpuStep()!.programs;
    };
    // four elements per invocation; the 3 and 1 left of w [67, 45] and b [45] one by one
    const elems = ['elem w', 'elem w tail', 'elem b', 'elem b tail', 'elem k', 'elem q', 'elem one', 'elem s'];
    expect(programs(() => emoSens())).toEqual(['scalar', ...elems, 'writes']);
    expect(programs(() => emoSens({ useShadow: true }))).toEqual(['scalar', ...elems, 'writes']);
    expect(programs(() => emoCats())).toEqual(['scalar', ...elems, 'writes']);
    expect(programs(() => adamw())).toEqual(['scalar', ...elems, 'writes']);
    // EmoAiry: per matrix (w, k, q) its row and column sums, one program for its rows and columns, its
    // update; b (and its tail), one and s as EmoSens
    expect(programs(() => emoAiry()).length).toBe(1 + 3 * 4 + 2 + 2 + 1);
    tf.dispose(Object.values(init));
  });

  it('compiles each pipeline once: later steps, and other learning rates, add none to the cache', () => {
    const { device } = tf.backend() as unknown as { device: GPUDevice };
    const init = initialParams();
    const grads = gradsAt(1);
    const losses = [tf.scalar(2), tf.scalar(4)];
    const opt = statefulOptimizer(emoAiry({ useShadow: true }), init);
    opt.step(grads, { loss: 1 });
    opt.step(grads, { loss: losses[0]! });
    const cached = cachedPipelineCount(device);
    expect(cached).toBeGreaterThan(0);
    opt.step(grads, { loss: 3 });
    opt.step(grads, { loss: losses[1]! });
    const other = statefulOptimizer(emoAiry({ useShadow: true, lr: 0.0321, betas: [0.8, 0.95], weightDecay: 0.2 }), init);
    other.step(grads, { loss: 1 });
    other.step(grads, { loss: losses[0]! });
    expect(other.path).toBe('fused');
    expect(cachedPipelineCount(device)).toBe(cached);
    tf.dispose([...Object.values(grads), ...Object.values(init), ...losses]);
    opt.dispose();
    other.dispose();
  });

  it('copies shared storage once, then writes in place', () => {
    const init = initialParams();
    const opt = statefulOptimizer(emoSens(), init);
    const grads = gradsAt(2);
    opt.step(grads, { loss: 1 });
    expect(lastWebGpuStep()!.copies).toBe(Object.keys(SHAPES).length); // each variable shares storage with its initial tensor
    const before = [opt.params.w!.dataId, ...flattenState(opt.state).map((l) => (l.value as tf.Tensor).dataId)];
    opt.step(grads, { loss: 2 });
    expect(lastWebGpuStep()!.copies).toBe(0);
    expect([opt.params.w!.dataId, ...flattenState(opt.state).map((l) => (l.value as tf.Tensor).dataId)]).toEqual(before);
    tf.dispose([...Object.values(grads), ...Object.values(init)]);
    opt.dispose();
  });

  it('a state moves between the paths mid-run (checkpoints are interchangeable)', async () => {
    const init = initialParams();
    const tx = emoCats({ useShadow: true });
    const vars = Object.fromEntries(Object.entries(init).map(([n, t]) => [n, tf.variable(t)]));
    let state = tx.init(vars);
    let signals: Partial<Signals> = {};
    const composed = statefulOptimizer(emoCats({ useShadow: true }), init, { fused: false });
    for (let t = 0; t < 9; t++) {
      const grads = gradsAt(t);
      // composed on steps 0, 1, 4, 7; fused otherwise: the counts (tensors) travel both ways
      const composedStep = t % 3 === 1 || t === 0;
      const r = applyStep(tx, vars, state, grads, { loss: lossAt(t), fused: !composedStep });
      expect(r.path).toBe(composedStep ? 'composed' : 'fused');
      disposeReplaced(signals, r.state, r.signals);
      state = r.state;
      signals = r.signals;
      composed.step(grads, { loss: lossAt(t) });
      tf.dispose(Object.values(grads));
    }
    for (const p of Object.keys(SHAPES)) expectClose(await vars[p]!.data(), await composed.params[p]!.data(), p);
    disposeState(state);
    disposeReplaced(signals, state);
    composed.dispose();
    tf.dispose([...Object.values(vars), ...Object.values(init)]);
  });

  it('raises the usual error when the loss is missing, before anything changes', () => {
    const init = initialParams();
    const opt = statefulOptimizer(emoSens(), init);
    const grads = gradsAt(0);
    expect(() => opt.step(grads)).toThrow(expect.objectContaining({ code: 'MISSING_LOSS' }));
    expect(opt.stepCount).toBe(0);
    tf.dispose([...Object.values(grads), ...Object.values(init)]);
    opt.dispose();
  });

  it('runs composed while two state tensors share storage, then fused once they no longer do', () => {
    const init = initialParams();
    const tx = emoSens();
    const vars = Object.fromEntries(Object.entries(init).map(([n, t]) => [n, tf.variable(t)]));
    const grads = gradsAt(0);
    let state = tx.init(vars);
    const paths: string[] = [];
    for (const [t, fused] of [[0, false], [1, true], [2, true]] as const) {
      if (t === 1) {
        // after the first step short = long = loss; make them one storage (as `tf.clone` does)
        const emotion = (state as { emotion: Record<string, tf.Tensor> }).emotion;
        const long = emotion.long!;
        emotion.long = tf.clone(emotion.short!);
        long.dispose();
        expect(explainFusion(tx, 'webgpu', { params: vars, state, grads, loss: 1 })).toEqual({ fused: false, reason: expect.stringMatching(/shares its storage/) });
      }
      const r = applyStep(tx, vars, state, grads, { loss: lossAt(t), fused });
      disposeReplaced(r.signals, r.state);
      state = r.state;
      paths.push(r.path);
    }
    expect(paths).toEqual(['composed', 'composed', 'fused']);
    disposeState(state);
    tf.dispose([...Object.values(grads), ...Object.values(vars), ...Object.values(init)]);
  });

  it("runs composed (which raises its own error) when the state does not have the chain's layout", () => {
    const init = initialParams();
    const opt = statefulOptimizer(emoSens(), init);
    const state = opt.state as { step: { direction: { mu: Record<string, tf.Tensor> } } };
    const mu = state.step.direction.mu;
    const original = mu.w!;
    const wrong = tf.zeros([2, 2]);
    (mu as Record<string, tf.Tensor>).w = wrong;
    const grads = gradsAt(0);
    expect(explainFusion(emoSens(), 'webgpu', { params: opt.params, state: opt.state, grads, loss: 1 })).toEqual({
      fused: false,
      reason: expect.stringMatching(/has shape \[2, 2\]/),
    });
    expect(() => opt.step(grads, { loss: 1 })).toThrow();
    (mu as Record<string, tf.Tensor>).w = original;
    tf.dispose([wrong, ...Object.values(grads), ...Object.values(init)]);
    opt.dispose();
  });

  it('runs composed while a step count is kept on the host (a number), naming why', () => {
    const tx = emoSens();
    const w = tf.variable(tf.ones([4]));
    const g = tf.ones([4]);
    const state = tx.init({ w }) as { emotion: Record<string, unknown> };
    const count = state.emotion.count as tf.Tensor;
    state.emotion.count = 3;
    const step = { params: { w }, state: state as StateValue, grads: { w: g }, loss: 1 };
    expect(explainFusion(tx, 'webgpu', step)).toEqual({ fused: false, reason: expect.stringMatching(/expected a state tensor, got number/) });
    state.emotion.count = count;
    expect(explainFusion(tx, 'webgpu', step)).toEqual({ fused: true, target: 'wgsl' });
    disposeState(state as StateValue);
    tf.dispose([w, g]);
  });

  it('declines (and says why) a step whose element pass would bind more storage buffers than the device allows', () => {
    // four Adam blocks in a row: 8 per-element moments + parameter, gradient and scratch buffer
    const tx = chain(scaleByAdam(), scaleByAdam(), scaleByAdam(), scaleByAdam(), scaleByLearningRate(1e-3)) as GradientTransformation<StateValue>;
    const opt = statefulOptimizer(tx, { w: tf.ones([4]) });
    const g = tf.ones([4]);
    opt.step({ w: g });
    expect(opt.path).toBe('composed');
    expect(lastWebGpuDecline()).toMatch(/binds 11 storage buffers; the device allows 8/);
    tf.dispose(g);
    opt.dispose();
  });

  it('updates only the parameters that have gradients (allowMissing), as the composed path does', async () => {
    const init = initialParams();
    const fused = statefulOptimizer(emoAiry({ useShadow: true }), init, { allowMissing: true });
    const composed = statefulOptimizer(emoAiry({ useShadow: true }), init, { allowMissing: true, fused: false });
    for (let t = 0; t < 8; t++) {
      const all = gradsAt(t);
      const grads = t % 2 === 0 ? { w: all.w!, s: all.s! } : all;
      fused.step(grads, { loss: lossAt(t) });
      composed.step(grads, { loss: lossAt(t) });
      expect(fused.path).toBe('fused');
      tf.dispose(Object.values(all));
    }
    await waitForWebGpu();
    for (const p of Object.keys(SHAPES)) expectClose(await fused.params[p]!.data(), await composed.params[p]!.data(), p);
    fused.dispose();
    composed.dispose();
    tf.dispose(Object.values(init));
  });

  it('handles a parameter larger than one dispatch row (2-D dispatch)', async () => {
    // more than 65535 workgroups of 64 invocations, four entries each, and a tail
    const size = 4 * 64 * 65535 + 102;
    const p = tf.variable(tf.fill([size], 0.5));
    const g = tf.fill([size], 0.25);
    const opt = statefulOptimizer(adamw({ lr: 0.1, weightDecay: 0 }), { p });
    opt.step({ p: g });
    expect(opt.path).toBe('fused');
    const out = await p.data();
    // Adam's first step moves every entry by lr * sign(g): 0.5 - 0.1
    expect(Math.abs(out[0]! - 0.4)).toBeLessThan(1e-6);
    expect(Math.abs(out[size - 1]! - 0.4)).toBeLessThan(1e-6);
    expect(Math.abs(out[4 * 64 * 65535 + 7]! - 0.4)).toBeLessThan(1e-6);
    expect(lastWebGpuStep()!.programs).toEqual(['scalar', 'elem p', 'elem p tail', 'writes']);
    tf.dispose([p, g]);
    opt.dispose();
  });
});
