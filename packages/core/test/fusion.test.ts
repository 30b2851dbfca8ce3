import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  applyUpdates,
  chain,
  composedUpdate,
  explainFusion,
  fx,
  initPerParameter,
  registerFusionTarget,
  runTransform,
  scheduleStep,
  stateless,
  statefulOptimizer,
  traceStep,
  updatePerParameter,
  type FusionForm,
  type FusionTarget,
  type GradientTransformation,
  type LeafRef,
  type StateValue,
  type Sym,
  type TracedStep,
} from '../src/index.js';
import { momentum, values } from './helpers.js';

type Tx = GradientTransformation<StateValue>;

/** `u * factor`, composed and fused. */
const scaleBy = (factor: number): Tx => stateless(`scaleBy(${factor})`, (u) => tf.mul(u, factor), (u) => fx.mul(u, factor)) as unknown as Tx;

/** Momentum `m = beta m + u`, composed and fused (a per-element state leaf). */
function momentumFx(beta: number): Tx {
  return {
    name: 'momentumFx',
    init: (params) => initPerParameter(params, (p) => tf.zerosLike(p)),
    update: (updates, state, params) =>
      updatePerParameter(updates, state as Record<string, tf.Tensor>, params, (u, m) => {
        const next = tf.add(tf.mul(m, beta), u);
        return { update: next, state: next };
      }),
    fusion: {
      update(updates, state) {
        const s = state as Record<string, LeafRef | Sym>;
        const next = { ...s };
        const out: Record<string, Sym> = {};
        for (const [key, u] of Object.entries(updates)) {
          const m = fx.add(fx.mul(fx.elem(s[key] as LeafRef, key), beta), u);
          next[key] = m;
          out[key] = m;
        }
        return { updates: out, state: next };
      },
    },
  } as Tx;
}

/** `u * n / (kept + 1)` with `kept` the count of positive entries: a per-parameter reduction. */
const keepPositive: Tx = {
  name: 'keepPositive',
  init: () => ({}),
  update: (updates, state) => ({
    updates: Object.fromEntries(Object.entries(updates).map(([k, u]) => [k, tf.div(tf.mul(u, u.size), tf.add(tf.sum(tf.cast(tf.greater(u, 0), 'float32')), 1))])),
    state,
  }),
  fusion: {
    update: (updates, state) => ({
      updates: Object.fromEntries(Object.entries(updates).map(([k, u]) => [k, fx.div(fx.mul(u, fx.size(u)), fx.add(fx.sum(fx.gt(u, 0)), 1))])),
      state,
    }),
  },
};

/**
 * A target for the tests: records each traced step it is given and stands for a rendered
 * pass by running the composed transform (so results can be compared).
 */
function recordingTarget(transform: Tx, options: { guards?: boolean; decline?: string } = {}) {
  const runs: { step: TracedStep; skipNonFinite: boolean }[] = [];
  const target: FusionTarget = {
    name: 'recording',
    guardsNonFinite: options.guards ?? false,
    check: () => options.decline,
    run(step, o) {
      runs.push({ step, skipNonFinite: o.skipNonFinite });
      const params = Object.fromEntries(step.params.map((p) => [p.name, p.variable]));
      const grads = Object.fromEntries(step.params.map((p) => [p.name, p.grad]));
      if (o.skipNonFinite && step.params.some((p) => values(p.grad).some((v) => !Number.isFinite(v)))) {
        return { state: step.state, signals: {}, finite: false };
      }
      const r = runTransform(transform, params, step.state, grads, step.loss !== undefined ? { loss: step.loss } : {});
      applyUpdates(params, r.updates);
      tf.dispose(Object.values(r.updates));
      return { state: r.state, signals: r.signals, ...(o.skipNonFinite ? { finite: true } : {}) };
    },
  };
  return { target, runs };
}

let unregister: (() => void) | undefined;
afterEach(() => {
  unregister?.();
  unregister = undefined;
});

describe('traceStep', () => {
  it('builds one graph for the chain: the same expression once, state writes by leaf, the update per parameter', () => {
    const tx = chain(momentumFx(0.5), scaleBy(-0.1)) as Tx;
    const params = { w: tf.variable(tf.ones([2, 3])), b: tf.variable(tf.ones([3])) };
    const state = tx.init(params);
    const grads = { w: tf.ones([2, 3]), b: tf.ones([3]) };
    const traced = traceStep(tx, params, state, grads, undefined);
    if (!('step' in traced)) throw new Error(traced.decline);
    const { step } = traced;
    expect(step.params.map((p) => p.name)).toEqual(['w', 'b']);
    expect(step.leafTensors.length).toBe(2);
    expect([...step.writes.keys()].sort()).toEqual([0, 1]);
    expect(step.graph.leaves.map((l) => [l.path, l.domain, l.param])).toEqual([
      ['0/w', 'elem', 'w'],
      ['0/b', 'elem', 'b'],
    ]);
    // one constant node for -0.1 although both parameters scale by it
    expect(step.graph.nodes.filter((n) => n.op === 'const' && Math.abs(n.value + 0.1) < 1e-12).length).toBe(1);
    // the new state keeps the layout; written leaves come from tensorOf
    const marker = tf.scalar(7);
    const next = step.newState(() => marker) as [Record<string, tf.Tensor>, unknown];
    expect(Object.keys(next[0])).toEqual(['w', 'b']);
    expect(next[0].w).toBe(marker);
    tf.dispose([marker, ...Object.values(params), ...Object.values(grads)]);
  });

  it('declines with the reason: a block without a fused form, a state tensor at two leaves, values of two parameters combined', () => {
    const params = { w: tf.variable(tf.ones([3])), v: tf.variable(tf.ones([3])) };
    const grads = { w: tf.ones([3]), v: tf.ones([3]) };
    const composedOnly = chain(momentum(0.5), scaleBy(-1)) as unknown as Tx;
    expect(traceStep(composedOnly, params, composedOnly.init(params), grads, undefined)).toEqual({ decline: "block 'momentum' has no fused form" });
    expect(explainFusion(composedOnly, 'cpu')).toEqual({ fused: false, reason: "block 'momentum' has no fused form" });

    const tx = momentumFx(0.5);
    const shared = tf.zeros([3]);
    expect(traceStep(tx, params, { w: shared, v: shared }, grads, undefined)).toEqual({ decline: "state 'v' shares its storage with state 'w'" });

    const mixing: Tx = {
      name: 'mixing',
      init: () => ({}),
      update: (u, s) => ({ updates: u, state: s }),
      fusion: { update: (u, s) => ({ updates: { w: fx.add(u.w!, u.v!), v: u.v! }, state: s }) },
    };
    expect(traceStep(mixing, params, {}, grads, undefined)).toEqual({
      decline: "'add' combines values of two parameters ('w' and 'v') without a reduction",
    });
    tf.dispose([shared, ...Object.values(params), ...Object.values(grads)]);
  });

  it('throws the composed path errors: a block that needs the loss gets none', () => {
    const needsLoss: Tx = {
      name: 'needsLoss',
      init: () => ({}),
      update: (u, s, _p, c) => (c.requireLoss('needsLoss'), { updates: u, state: s }),
      fusion: { update: (u, s, _p, c) => (c.loss('needsLoss'), { updates: u, state: s }) },
    };
    const params = { w: tf.variable(tf.ones([2])) };
    const grads = { w: tf.ones([2]) };
    expect(() => traceStep(needsLoss, params, {}, grads, undefined)).toThrow(expect.objectContaining({ code: 'MISSING_LOSS' }));
    tf.dispose([params.w, grads.w]);
  });
});

describe('scheduleStep', () => {
  it('splits a step at its reductions: one pass without, two passes with a per-parameter sum', () => {
    const params = { w: tf.variable(tf.ones([4])) };
    const grads = { w: tf.ones([4]) };
    const plain = traceStep(chain(momentumFx(0.5), scaleBy(-1)) as Tx, params, chain(momentumFx(0.5), scaleBy(-1)).init(params), grads, undefined);
    const reduced = traceStep(chain(keepPositive, scaleBy(-1)) as Tx, params, [{}, {}], grads, undefined);
    if (!('step' in plain) || !('step' in reduced)) throw new Error('declined');
    const passes = (s: ReturnType<typeof scheduleStep>) => s.sweeps.flatMap((sw, i) => sw.params.filter((p) => p.pass).map((p) => [i, p.pass!.final, p.pass!.reductions.length]));
    expect(passes(scheduleStep(plain.step))).toEqual([[0, true, 0]]);
    // sweep 0 sums the positive entries; sweep 1 writes
    expect(passes(scheduleStep(reduced.step))).toEqual([
      [0, false, 1],
      [1, true, 0],
    ]);
    tf.dispose([params.w, grads.w]);
  });
});

describe('applyStep with a fusion target', () => {
  it('runs a fusable chain on the registered target; the composed path otherwise, and agrees', () => {
    const make = () => chain(momentumFx(0.5), scaleBy(-0.1)) as Tx;
    const { target, runs } = recordingTarget(make());
    unregister = registerFusionTarget(tf.getBackend(), target);
    const fused = statefulOptimizer(make(), { w: tf.tensor([1, -2, 3]) });
    const off = statefulOptimizer(make(), { w: tf.tensor([1, -2, 3]) }, { fused: false });
    const g = tf.tensor([0.5, 0.25, -1]);
    for (let i = 0; i < 3; i++) {
      fused.step({ w: g });
      off.step({ w: g });
    }
    expect(fused.path).toBe('fused');
    expect(off.path).toBe('composed');
    expect(runs.length).toBe(3);
    expect(values(fused.params.w)).toEqual(values(off.params.w));
    expect(explainFusion(make())).toEqual({ fused: true, target: 'recording' });
    [fused, off].forEach((o) => o.dispose());
    g.dispose();
  });

  it('runs composed when the target declines the step or a block has no fused form', () => {
    const make = () => chain(momentumFx(0.5), scaleBy(-0.1)) as Tx;
    const { target, runs } = recordingTarget(make(), { decline: 'not today' });
    unregister = registerFusionTarget(tf.getBackend(), target);
    const o = statefulOptimizer(make(), { w: tf.tensor([1, 2]) });
    o.step({ w: tf.tensor([1, 1]) });
    expect(o.path).toBe('composed');
    expect(runs.length).toBe(0);
    expect(explainFusion(make(), tf.getBackend(), { params: o.params, state: o.state, grads: { w: tf.tensor([1, 1]) } })).toEqual({
      fused: false,
      reason: 'the recording target declined: not today',
    });
    const partly = statefulOptimizer(chain(momentum(0.5), scaleBy(-0.1)) as unknown as Tx, { w: tf.tensor([1, 2]) });
    partly.step({ w: tf.tensor([1, 1]) });
    expect(partly.path).toBe('composed');
    [o, partly].forEach((x) => x.dispose());
  });

  it('validates gradients and the loss before the target runs', () => {
    const make = () => chain(momentumFx(0.5), scaleBy(-0.1)) as Tx;
    const { target, runs } = recordingTarget(make());
    unregister = registerFusionTarget(tf.getBackend(), target);
    const o = statefulOptimizer(make(), { w: tf.tensor([1, 2]) });
    expect(() => o.step({ w: tf.ones([3]) })).toThrowError(/has shape \[3\]; expected \[2\]/);
    expect(() => o.step({ w: tf.ones([2]) }, { loss: tf.tensor([1, 2]) as tf.Scalar })).toThrowError(/loss: expected a number or a scalar tensor/);
    expect(runs.length).toBe(0);
    expect(values(o.params.w)).toEqual([1, 2]);
    o.dispose();
  });

  it('passes skipNonFinite only to a target that guards; otherwise the guarded composed path runs', () => {
    const make = () => chain(momentumFx(0.5), scaleBy(-0.1)) as Tx;
    const guarding = recordingTarget(make(), { guards: true });
    unregister = registerFusionTarget(tf.getBackend(), guarding.target);
    const o = statefulOptimizer(make(), { w: tf.tensor([1, 2]) }, { skipNonFinite: true });
    o.step({ w: tf.tensor([Number.NaN, 1]) });
    expect(o.path).toBe('fused');
    expect(values(o.params.w)).toEqual([1, 2]);
    expect(values(o.skippedSteps)).toEqual([1]);
    expect(guarding.runs.map((r) => r.skipNonFinite)).toEqual([true]);
    o.dispose();
    unregister();

    const plain = recordingTarget(make(), { guards: false });
    unregister = registerFusionTarget(tf.getBackend(), plain.target);
    const p = statefulOptimizer(make(), { w: tf.tensor([1, 2]) }, { skipNonFinite: true });
    p.step({ w: tf.tensor([Number.NaN, 1]) });
    expect(p.path).toBe('composed');
    expect(values(p.params.w)).toEqual([1, 2]);
    expect(plain.runs.length).toBe(0);
    p.dispose();
  });
});

describe('traceStep reuses a program', () => {
  it('rebinds the last program when nothing it depends on changed; traces anew otherwise, and always with host values', () => {
    const tx = chain(momentumFx(0.5), scaleBy(-0.1)) as Tx;
    const params = { w: tf.variable(tf.ones([3])) };
    const grads = { w: tf.ones([3]) };
    const s1 = tx.init(params);
    const s2 = tx.init(params);
    const a = traceStep(tx, params, s1, grads, undefined);
    const b = traceStep(tx, params, s2, grads, 1);
    const c = traceStep(tx, params, s2, grads, 2);
    if (!('step' in a) || !('step' in b) || !('step' in c)) throw new Error('declined');
    expect(b.step.graph).not.toBe(a.step.graph); // the loss went from absent to a number
    expect(c.step.graph).toBe(b.step.graph); // same signature: the same program, rebound
    expect(c.step.leafTensors[0]).toBe((s2 as unknown as [Record<string, tf.Tensor>])[0].w);
    expect(c.step.loss).toBe(2);

    // a schedule's value is a host value of the program: traced every step, with its value
    let lr = 0.1;
    const scheduled: Tx = {
      name: 'scheduled',
      init: () => ({}),
      update: (u, s) => ({ updates: u, state: s }),
      fusion: { update: (u, s) => ({ updates: Object.fromEntries(Object.entries(u).map(([k, v]) => [k, fx.mul(v, fx.uniform(lr))])), state: s }) },
    };
    const d = traceStep(scheduled, params, {}, grads, undefined);
    lr = 0.2;
    const e = traceStep(scheduled, params, {}, grads, undefined);
    if (!('step' in d) || !('step' in e)) throw new Error('declined');
    expect(e.step.graph).not.toBe(d.step.graph);
    expect([d.step.graph.uniforms, e.step.graph.uniforms]).toEqual([[0.1], [0.2]]);
    tf.dispose([params.w, grads.w, ...Object.values((s1 as unknown as [Record<string, tf.Tensor>])[0]), ...Object.values((s2 as unknown as [Record<string, tf.Tensor>])[0])]);
  });
});

describe('host values: the loss as a number, and numbers published between blocks', () => {
  /** Publishes `2 * loss` (a host number, float64) and scales by 10 when the loss is above 1, else by 3. */
  const hostRule: Tx = {
    name: 'hostRule',
    init: () => ({ seen: 0 }),
    update: (() => {
      throw new Error('replaced below');
    }) as never,
    fusion: {
      update(updates, state, _params, context) {
        const loss = context.lossValue('hostRule');
        context.publishValue('twiceLoss', 2 * loss, 'hostRule');
        const factor = loss > 1 ? 10 : 3;
        const out = Object.fromEntries(Object.entries(updates).map(([k, u]) => [k, fx.mul(u, factor)]));
        return { updates: out, state: { seen: (state as { seen: number }).seen + loss } };
      },
    },
  };
  const withComposed = (tx: Tx): Tx => ({ ...tx, update: composedUpdate(tx.name, tx.fusion as FusionForm) });
  /** Reads `twiceLoss` and subtracts it from every update. */
  const reader: Tx = withComposed({
    name: 'reader',
    init: () => ({}),
    update: undefined as never,
    fusion: {
      update: (updates, state, _p, context) => {
        const v = context.readValue('twiceLoss', 'reader');
        return { updates: Object.fromEntries(Object.entries(updates).map(([k, u]) => [k, fx.sub(u, fx.uniform(v))])), state };
      },
    },
  });

  it('composed: the number loss exactly (float64), a tensor loss read once, values flow to later blocks, errors named', () => {
    const tx = chain(withComposed(hostRule), reader) as Tx;
    const o = statefulOptimizer(tx, { w: tf.tensor([1, -2]) }, { fused: false });
    const g = tf.tensor([0.5, 1]);
    o.step({ w: g }, { loss: 0.1 + 0.2 });
    expect((o.state as { 0: { seen: number } })[0].seen).toBe(0.1 + 0.2); // not float32's 0.30000001192...
    // u = 3 g - 2 loss = [1.5 - 0.6, 3 - 0.6]
    const close = (actual: number[], expected: number[]) => expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, 5));
    close(values(o.params.w), [1 + 1.5 - 0.6, -2 + 3 - 0.6]);
    const loss = tf.scalar(2);
    o.step({ w: g }, { loss });
    close(values(o.params.w), [1 + 1.5 - 0.6 + 5 - 4, -2 + 3 - 0.6 + 10 - 4]);
    expect(() => o.step({ w: g })).toThrowError(/Block 'hostRule' needs this step's loss/);
    const alone = statefulOptimizer(reader, { w: tf.tensor([1]) }, { fused: false });
    expect(() => alone.step({ w: tf.tensor([1]) }, { loss: 1 })).toThrowError(/Block 'reader' reads value 'twiceLoss', but no earlier block/);
    const twice = statefulOptimizer(chain(withComposed(hostRule), withComposed(hostRule)) as Tx, { w: tf.tensor([1]) }, { fused: false });
    expect(() => twice.step({ w: tf.tensor([1]) }, { loss: 1 })).toThrowError(/already published this step/);
    [o, alone, twice].forEach((x) => x.dispose());
    tf.dispose([g, loss]);
  });

  it('traceStep traces again every step a form reads the loss value (the branch follows the loss)', () => {
    const tx = chain(withComposed(hostRule), reader) as Tx;
    const params = { w: tf.variable(tf.tensor([1, 2])) };
    const state = tx.init(params);
    const grads = { w: tf.tensor([1, 1]) };
    const high = traceStep(tx, params, state, grads, 2);
    const low = traceStep(tx, params, state, grads, 0.5);
    if (!('step' in high) || !('step' in low)) throw new Error('expected both steps to trace');
    expect(high.step.key).not.toBe(low.step.key);
    expect(high.step.graph.nodeKeys.join(';')).toContain('10');
    expect(low.step.graph.nodeKeys.join(';')).toContain('3');
    expect(high.step.newState((_leaf, t) => t)).toEqual([{ seen: 2 }, {}]);
    tf.dispose([params.w, grads.w]);
  });

  it('a backend without synchronous reads gets a named error saying to pass the loss as a number', () => {
    const tx = chain(withComposed(hostRule), reader) as Tx;
    const o = statefulOptimizer(tx, { w: tf.tensor([1]) }, { fused: false });
    const loss = tf.scalar(1);
    (loss as unknown as { dataSync: () => never }).dataSync = () => {
      throw new Error('no synchronous reads here');
    };
    const g = tf.tensor([1]);
    expect(() => o.step({ w: g }, { loss })).toThrowError(/Block 'hostRule' needs this step's loss as a number.*no synchronous reads here.*Pass the loss as a number/);
    expect(values(o.params.w)).toEqual([1]);
    tf.dispose([g, loss]);
    o.dispose();
  });

  it('a program that read a host value is not rebound on a later step (the value may differ)', () => {
    let next = 1;
    const source: Tx = withComposed({
      name: 'source',
      init: () => ({}),
      update: undefined as never,
      fusion: {
        update: (u, st, _p, context) => {
          context.publishValue('twiceLoss', next, 'source');
          return { updates: u, state: st };
        },
      },
    });
    const branching: Tx = withComposed({
      name: 'branching',
      init: () => ({}),
      update: undefined as never,
      fusion: {
        update: (u, st, _p, context) => {
          const factor = context.readValue('twiceLoss', 'branching') > 0 ? 2 : 5;
          return { updates: Object.fromEntries(Object.entries(u).map(([k, x]) => [k, fx.mul(x, factor)])), state: st };
        },
      },
    });
    const tx = chain(source, branching) as Tx;
    const params = { w: tf.variable(tf.tensor([1])) };
    const state = tx.init(params);
    const grads = { w: tf.tensor([1]) };
    const first = traceStep(tx, params, state, grads, undefined);
    next = -1;
    const second = traceStep(tx, params, state, grads, undefined);
    if (!('step' in first) || !('step' in second)) throw new Error('expected both steps to trace');
    expect(first.step.graph.nodeKeys.join(';')).toContain('2');
    expect(second.step.graph.nodeKeys.join(';')).toContain('5');
    tf.dispose([params.w, grads.w]);
  });
});
