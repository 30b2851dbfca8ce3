import * as tf from '@tensorflow/tfjs-core';
import {
  applyStep,
  chain,
  disposeReplaced,
  disposeState,
  flattenState,
  fx,
  isTensor,
  type EmptyState,
  type GradientTransformation,
  type Signals,
  type StateValue,
} from '@emosens/core';
import { fixedEmotion } from '@emosens/emotion';
import { cautious, scaleByLearningRate } from '@emosens/modifiers';
import { rootFiltered, scaleByAdam } from '@emosens/moments';
import { adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lastWebGpuDecline, lastWebGpuStep } from '../src/index.js';
import { useWebGpuKernels, webgpu } from './webgpu.js';

type Factory = () => GradientTransformation<StateValue>;
const OPTIMIZERS: Record<string, Factory> = {
  emoSens: () => emoSens({ lr: 0.01 }),
  'emoSens+shadow': () => emoSens({ lr: 0.01, useShadow: true }),
  emoAiry: () => emoAiry({ lr: 0.01 }),
  emoCats: () => emoCats({ lr: 0.001 }),
  adamw: () => adamw({ lr: 0.01 }),
  'chain(cautious(scaleByAdam()), scaleByLearningRate(1e-2))': () => chain(cautious(scaleByAdam()), scaleByLearningRate(1e-2)) as GradientTransformation<StateValue>,
  'chain(fixedEmotion(0.3), rootFiltered(scaleByAdam()), scaleByLearningRate(1e-2))': () =>
    chain(fixedEmotion(0.3), rootFiltered(scaleByAdam()), scaleByLearningRate(1e-2)) as GradientTransformation<StateValue>,
};

/** A block that publishes `tanh(loss)` as the emotion signal, kept in no state (so a skipped step must keep it otherwise). */
const lossSignal: GradientTransformation<EmptyState> = {
  name: 'lossSignal',
  init: () => ({}),
  update(updates, state, _params, context) {
    context.publish('emotion', tf.tanh(context.requireLoss('lossSignal')), 'lossSignal');
    return { updates, state };
  },
  fusion: {
    update(updates, state, _params, context) {
      context.publish('emotion', fx.tanh(context.loss('lossSignal')), 'lossSignal');
      return { updates, state };
    },
  },
};

/** Deterministic values in [-1, 1). */
function values(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out[i] = (x / 2147483648) * 2 - 1;
  }
  return out;
}

const SHAPES: Record<string, number[]> = { w: [9, 7], b: [7], s: [] };

function gradsAt(step: number): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(SHAPES).map(([n, shape], i) => [n, tf.tensor(values(tf.util.sizeFromShape(shape), 100 * step + i + 7), shape)]));
}

/** A loss that moves enough for the emotion scalar (and the shadow) to change. */
const lossAt = (step: number) => 2 + Math.sin(step / 2) + (step === 3 ? 4 : 0);

/** One run of an optimizer through core's `applyStep` with `skipNonFinite`, on variables. */
class Run {
  readonly vars: Record<string, tf.Variable>;
  state: StateValue;
  signals: Partial<Signals> = {};

  constructor(readonly tx: GradientTransformation<StateValue>) {
    this.vars = Object.fromEntries(Object.entries(SHAPES).map(([n, shape], i) => [n, tf.variable(tf.tensor(values(tf.util.sizeFromShape(shape), i + 1), shape))]));
    this.state = tx.init(this.vars);
  }

  /** A step; returns the `finite` result (a tensor: the caller's). */
  step(grads: Record<string, tf.Tensor>, loss: number | tf.Scalar): boolean | tf.Scalar | undefined {
    const r = applyStep(this.tx, this.vars, this.state, grads, { loss, skipNonFinite: true, previousSignals: this.signals });
    expect(r.path, lastWebGpuDecline()).toBe('fused');
    disposeReplaced(this.signals, r.state, r.signals);
    this.state = r.state;
    this.signals = r.signals;
    return r.finite;
  }

  /** Every parameter and state leaf as raw bits, by path (awaited `data()` reads). */
  async snapshot(): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (const [n, v] of Object.entries(this.vars)) out.set(`param/${n}`, await bits(v));
    for (const leaf of flattenState(this.state)) {
      if (!isTensor(leaf.value)) throw new Error(`${leaf.path} is not a tensor`);
      out.set(leaf.path, await bits(leaf.value));
    }
    return out;
  }

  dispose(): void {
    disposeReplaced(this.signals, this.state);
    disposeState(this.state);
    tf.dispose(Object.values(this.vars));
  }
}

/** The raw values of a tensor: float32 as their bit patterns (so -0, +0 and NaN payloads count). */
async function bits(t: tf.Tensor): Promise<number[]> {
  const data = await t.data();
  return data instanceof Float32Array ? Array.from(new Uint32Array(Float32Array.from(data).buffer)) : Array.from(data as ArrayLike<number>);
}

async function readFinite(finite: boolean | tf.Scalar | undefined): Promise<boolean> {
  if (!isTensor(finite)) throw new Error(`expected a bool scalar tensor, got ${String(finite)}`);
  expect(finite.dtype).toBe('bool');
  expect(finite.shape).toEqual([]);
  const [v] = await finite.data();
  finite.dispose();
  return v === 1;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string) {
  expect(actual.length, label).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    if (!(Math.abs(actual[i]! - e) <= 1e-6 + 1e-5 * Math.abs(e))) throw new Error(`${label}[${i}]: expected ${e}, got ${actual[i]}`);
  }
}

/** Spies on every way the webgpu backend reads a tensor back. */
function spyOnReads() {
  const backend = tf.backend() as unknown as Record<string, (...args: unknown[]) => unknown>;
  const spies = ['read', 'readSync', 'getBufferData', 'readToGPU'].filter((m) => typeof backend[m] === 'function').map((m) => vi.spyOn(backend, m as never));
  expect(spies.length).toBeGreaterThanOrEqual(3);
  return spies;
}

describe.skipIf(!webgpu.ok)('the WGSL target skips non-finite steps on the device (skipNonFinite)', () => {
  useWebGpuKernels();
  afterEach(() => vi.restoreAllMocks());

  for (const [name, make] of Object.entries(OPTIMIZERS)) {
    it(`${name}: a NaN gradient and an Inf loss change nothing, read nothing back, and the run continues like a twin that never saw them`, async () => {
      const run = new Run(make());
      const twin = new Run(make());
      const good: boolean[] = [];
      const step = (r: Run, t: number) => {
        const grads = gradsAt(t);
        const loss = tf.scalar(lossAt(t));
        const finite = r.step(grads, loss);
        tf.dispose([...Object.values(grads), loss]);
        return finite;
      };
      for (let t = 0; t < 4; t++) {
        good.push(await readFinite(step(run, t)));
        step(twin, t);
      }
      expect(good).toEqual([true, true, true, true]);
      const before = await run.snapshot();

      // a NaN in one entry of one gradient, then an Inf loss tensor with finite gradients
      const nanGrads = gradsAt(4);
      const b = nanGrads.b!;
      nanGrads.b = tf.tensor(Float32Array.from(values(7, 3), (x, i) => (i === 5 ? Number.NaN : x)), [7]);
      b.dispose();
      const infLoss = tf.scalar(Number.POSITIVE_INFINITY);
      const finiteGrads = gradsAt(5);
      const okLoss = tf.scalar(1.5);
      const tensorsBefore = tf.memory().numTensors;
      const spies = spyOnReads();
      const skipped = [run.step(nanGrads, okLoss), run.step(finiteGrads, infLoss)];
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
      vi.restoreAllMocks();
      expect(tf.memory().numTensors).toBe(tensorsBefore + 2); // the two `finite` results
      expect(await readFinite(skipped[0])).toBe(false);
      expect(await readFinite(skipped[1])).toBe(false);
      const after = await run.snapshot();
      expect([...after.keys()]).toEqual([...before.keys()]);
      for (const [path, v] of before) expect(after.get(path), path).toEqual(v);

      // good steps afterwards match the twin that never saw the bad ones, with no reads either
      const spies2 = spyOnReads();
      const finites: (boolean | tf.Scalar | undefined)[] = [];
      for (let t = 4; t < 7; t++) {
        finites.push(step(run, t));
        step(twin, t);
      }
      for (const spy of spies2) expect(spy).not.toHaveBeenCalled();
      vi.restoreAllMocks();
      for (const f of finites) expect(await readFinite(f)).toBe(true);
      for (const p of Object.keys(SHAPES)) expectClose(await run.vars[p]!.data(), await twin.vars[p]!.data(), `${name} ${p}`);
      const a = flattenState(run.state);
      const c = flattenState(twin.state);
      expect(a.map((l) => l.path)).toEqual(c.map((l) => l.path));
      for (let i = 0; i < a.length; i++) {
        expectClose(await (a[i]!.value as tf.Tensor).data(), await (c[i]!.value as tf.Tensor).data(), `${name} state ${a[i]!.path}`);
      }
      tf.dispose([...Object.values(nanGrads), ...Object.values(finiteGrads), infLoss, okLoss]);
      run.dispose();
      twin.dispose();
    });
  }

  it("core's applyStep with skipNonFinite runs the fused path and reports finite as a bool scalar on the device", async () => {
    const tx = emoSens();
    const w = tf.variable(tf.tensor([0.5, -0.25, 1]));
    const g = tf.tensor([0.1, 0.2, -0.3]);
    const state = tx.init({ w });
    const r = applyStep(tx, { w }, state, { w: g }, { loss: 2, skipNonFinite: true });
    expect(r.path).toBe('fused');
    expect(await readFinite(r.finite)).toBe(true);
    // the check is one more dispatch than an unguarded step
    expect(lastWebGpuStep()!.programs).toEqual(['check 0', 'scalar', 'elem w', 'writes']);
    const r2 = applyStep(tx, { w }, r.state, { w: g }, { loss: 2 });
    expect(r2.path).toBe('fused');
    expect(r2.finite).toBeUndefined();
    expect(lastWebGpuStep()!.programs).toEqual(['scalar', 'elem w', 'writes']);
    disposeReplaced(r.signals, r2.state, r2.signals);
    disposeState(r2.state);
    disposeReplaced(r2.signals);
    tf.dispose([w, g]);
  });

  it('a signal that is no state keeps its previous value on a skipped step, and takes the new one otherwise', async () => {
    const tx = chain(lossSignal, scaleByAdam(), scaleByLearningRate(1e-2)) as GradientTransformation<StateValue>;
    const run = new Run(tx);
    const grads = gradsAt(0);
    expect(await readFinite(run.step(grads, 0.5))).toBe(true);
    const first = run.signals.emotion!;
    expect(Array.from(await first.data())[0]).toBeCloseTo(Math.tanh(0.5), 6);
    // a NaN gradient with a finite loss: the step is skipped, the signal stays tanh(0.5)
    const bad = { ...grads, b: tf.tensor(Float32Array.from(values(7, 1), (x, i) => (i === 2 ? Number.NaN : x)), [7]) };
    expect(await readFinite(run.step(bad, 1.5))).toBe(false);
    expect(run.signals.emotion).not.toBe(first); // a new tensor, with the previous value
    expect(Array.from(await run.signals.emotion!.data())[0]).toBeCloseTo(Math.tanh(0.5), 6);
    expect(await readFinite(run.step(grads, 1.5))).toBe(true);
    expect(Array.from(await run.signals.emotion!.data())[0]).toBeCloseTo(Math.tanh(1.5), 6);
    tf.dispose([...Object.values(grads), bad.b]);
    run.dispose();
  });

  it('a non-finite number loss is caught on the host: finite is false and nothing is recorded', async () => {
    const run = new Run(emoCats({ useShadow: true }));
    const grads = gradsAt(0);
    expect(await readFinite(run.step(grads, 1))).toBe(true);
    const before = await run.snapshot();
    for (const loss of [Number.NaN, Number.NEGATIVE_INFINITY, 1e39 /* Infinity as float32 */]) {
      expect(run.step(grads, loss)).toBe(false);
      expect(lastWebGpuStep()!.dispatches).toBe(0);
    }
    const after = await run.snapshot();
    for (const [path, v] of before) expect(after.get(path), path).toEqual(v);
    tf.dispose(Object.values(grads));
    run.dispose();
  });

  it('checks every gradient of many parameters (several check dispatches), skipping on -Infinity in the last one', async () => {
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`p${k}`, tf.variable(tf.tensor(values(300, k + 1), k % 2 ? [300] : [15, 20]))]));
    const tx = emoAiry({ useShadow: true });
    let state = tx.init(many);
    let signals: Partial<Signals> = {};
    const gradsAtStep = (t: number) => Object.fromEntries(Object.entries(many).map(([n, p], k) => [n, tf.tensor(values(300, 50 * t + k), p.shape)]));
    const run = async (grads: Record<string, tf.Tensor>, loss: tf.Scalar) => {
      const r = applyStep(tx, many, state, grads, { loss, skipNonFinite: true });
      expect(r.path).toBe('fused');
      disposeReplaced(signals, r.state, r.signals);
      state = r.state;
      signals = r.signals;
      return readFinite(r.finite);
    };
    const loss = tf.scalar(3);
    const g0 = gradsAtStep(0);
    expect(await run(g0, loss)).toBe(true);
    // 3 checks (the loss and 20 gradients, 7 per dispatch) first
    expect(lastWebGpuStep()!.programs.filter((p) => p.startsWith('check'))).toEqual(['check 0', 'check 1', 'check 2']);
    expect(lastWebGpuStep()!.programs[3]).toBe('scalar');
    const snapshot = async () => {
      const out: number[][] = [];
      for (const v of Object.values(many)) out.push(await bits(v));
      for (const leaf of flattenState(state)) out.push(await bits(leaf.value as tf.Tensor));
      return out;
    };
    const before = await snapshot();
    const bad = gradsAtStep(1);
    const last = bad.p19!;
    bad.p19 = tf.tensor(Float32Array.from(values(300, 9), (x, i) => (i === 299 ? Number.NEGATIVE_INFINITY : x)), [300]);
    last.dispose();
    expect(await run(bad, loss)).toBe(false);
    expect(await snapshot()).toEqual(before);
    tf.dispose([...Object.values(g0), ...Object.values(bad), loss]);
    disposeReplaced(signals, state);
    disposeState(state);
    tf.dispose(Object.values(many));
  });
});
