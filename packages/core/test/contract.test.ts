import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  EmosensError,
  applyUpdates,
  chain,
  createStepContext,
  flattenState,
  identity,
  partition,
  runTransform,
  stateless,
  statefulOptimizer,
  unflattenState,
  type GradientTransformation,
} from '../src/index.js';
import { addConstant, momentum, multiplyBy, values } from './helpers.js';

declare module '../src/index.js' {
  interface Signals {
    testGain: tf.Scalar;
  }
}

const params = () => ({ w: tf.tensor([1, 2, 3]), b: tf.tensor([0.5]) });

describe('chain', () => {
  it('applies members in order: (g + 1) * 2 differs from g * 2 + 1', () => {
    const p = params();
    const grads = { w: tf.tensor([1, 1, 1]), b: tf.tensor([0]) };
    const addThenMul = chain(addConstant(1), multiplyBy(2));
    const mulThenAdd = chain(multiplyBy(2), addConstant(1));
    const a = addThenMul.update(grads, addThenMul.init(p), p, createStepContext());
    const b = mulThenAdd.update(grads, mulThenAdd.init(p), p, createStepContext());
    expect(values(a.updates.w)).toEqual([4, 4, 4]);
    expect(values(b.updates.w)).toEqual([3, 3, 3]);
  });

  it('keeps each member state apart, positionally and by name', () => {
    const p = params();
    const grads = { w: tf.ones([3]), b: tf.ones([1]) };
    const positional = chain(addConstant(1), momentum(0.5));
    let state = positional.init(p);
    expect(state[0]).toEqual({ count: 0 });
    state = positional.update(grads, state, p, createStepContext()).state;
    state = positional.update(grads, state, p, createStepContext()).state;
    expect(state[0]).toEqual({ count: 2 });
    // momentum saw (1 + 1): m1 = 2, m2 = 0.5 * 2 + 2 = 3
    expect(values(state[1].w)).toEqual([3, 3, 3]);

    const named = chain({ shift: addConstant(1), scale: multiplyBy(3) });
    const s0 = named.init(p);
    const s1 = named.update(grads, s0, p, createStepContext()).state;
    expect(Object.keys(s1)).toEqual(['shift', 'scale']);
    expect(s1.shift.count).toBe(1);
    expect(s1.scale.count).toBe(1);
    expect(s0.shift.count).toBe(0); // the old state is not mutated
    expect(named.name).toBe('chain(shift: addConstant(1), scale: multiplyBy(3))');
  });

  it('identity passes updates through unchanged, and chain(identity) is identity', () => {
    const p = params();
    const grads = { w: tf.tensor([7, 8, 9]), b: tf.tensor([1]) };
    const r = identity().update(grads, identity().init(p), p, createStepContext());
    expect(r.updates.w).toBe(grads.w);
    const c = chain(identity(), identity());
    expect(values(c.update(grads, c.init(p), p, createStepContext()).updates.w)).toEqual([7, 8, 9]);
  });

  it('stateless applies a per-parameter function with the parameter and its name', () => {
    const p = params();
    const seen: string[] = [];
    const addParam = stateless('addParam', (u, param, _ctx, name) => {
      seen.push(name);
      return tf.add(u, param);
    });
    const r = addParam.update({ w: tf.zeros([3]), b: tf.zeros([1]) }, addParam.init(p), p, createStepContext());
    expect(values(r.updates.w)).toEqual([1, 2, 3]);
    expect(seen.sort()).toEqual(['b', 'w']);
  });
});

describe('signals', () => {
  const publisher: GradientTransformation<Record<string, never>> = {
    name: 'gainPublisher',
    init: () => ({}),
    update(updates, state, _params, context) {
      context.publish('testGain', tf.scalar(10), 'gainPublisher');
      return { updates, state };
    },
  };
  const reader = stateless('gainReader', (u, _p, context) => tf.mul(u, context.read('testGain', 'gainReader')));

  it('passes a signal from an earlier block to a later one', () => {
    const p = params();
    const c = chain(publisher, reader);
    const r = c.update({ w: tf.ones([3]), b: tf.ones([1]) }, c.init(p), p, createStepContext());
    expect(values(r.updates.w)).toEqual([10, 10, 10]);
  });

  it('reading a signal nobody published names the signal and the block', () => {
    const p = params();
    const c = chain(reader, publisher); // wrong order
    const call = () => c.update({ w: tf.ones([3]), b: tf.ones([1]) }, c.init(p), p, createStepContext());
    expect(call).toThrowError(EmosensError);
    expect(call).toThrowError(/signal 'testGain'.*'gainReader'/);
  });

  it('a signal is published once per step', () => {
    const p = params();
    const c = chain(publisher, publisher);
    expect(() => c.update({ w: tf.ones([3]) }, c.init(p), p, createStepContext())).toThrowError(/already published/);
  });

  it('requireLoss names the block when no loss was given, and converts a number loss', () => {
    const ctx = createStepContext();
    expect(() => ctx.requireLoss('emotion')).toThrowError(/'emotion' needs this step's loss/);
    const withLoss = createStepContext(2.5);
    expect(values(withLoss.requireLoss('emotion'))).toEqual([2.5]);
    expect(() => createStepContext(tf.tensor([1, 2]) as unknown as tf.Scalar)).toThrowError(/loss: expected a number or a scalar/);
  });
});

describe('partition', () => {
  it('routes parameters by label, each transform seeing only its own', () => {
    const p = { m: tf.ones([2, 2]), v: tf.ones([3]) };
    const t = partition({ matrix: multiplyBy(2), vector: addConstant(5) }, (_, param) => (param.rank >= 2 ? 'matrix' : 'vector'));
    const r = t.update({ m: tf.ones([2, 2]), v: tf.ones([3]) }, t.init(p), p, createStepContext());
    expect(values(r.updates.m)).toEqual([2, 2, 2, 2]);
    expect(values(r.updates.v)).toEqual([6, 6, 6]);
    expect(r.state.matrix.count).toBe(1);
  });

  it('a bad label names the parameter', () => {
    const p = { v: tf.ones([3]) };
    const t = partition({ a: identity() }, () => 'nope' as 'a');
    expect(() => t.init(p)).toThrowError(/'nope' for parameter 'v'/);
  });
});

describe('applyUpdates', () => {
  it('assigns into variables and returns new tensors for plain ones', () => {
    const v = tf.variable(tf.tensor([1, 2]));
    const plain = tf.tensor([1, 2]);
    const out = applyUpdates({ v, plain }, { v: tf.tensor([1, 1]), plain: tf.tensor([2, 2]) });
    expect(out.v).toBe(v);
    expect(values(v)).toEqual([2, 3]);
    expect(values(out.plain)).toEqual([3, 4]);
    expect(values(plain)).toEqual([1, 2]);
  });
});

describe('errors leave everything unchanged', () => {
  const sgd = () => chain(momentum(0.9), multiplyBy(-0.1));
  const make = () => statefulOptimizer(sgd(), { w: tf.tensor([1, 2, 3]), b: tf.tensor([0.5]) });
  const snapshot = (o: ReturnType<typeof make>) => ({
    w: values(o.params.w),
    b: values(o.params.b),
    m: values((o.state[0] as Record<string, tf.Tensor>).w),
    count: o.state[1].count,
    steps: o.stepCount,
  });

  const cases: Array<[string, () => Record<string, tf.Tensor>, RegExp, string]> = [
    ['unknown parameter', () => ({ w: tf.ones([3]), b: tf.ones([1]), z: tf.ones([1]) }), /unknown parameter 'z'/, 'UNKNOWN_PARAMETER'],
    ['missing gradient', () => ({ w: tf.ones([3]) }), /no gradient for parameter 'b'/, 'MISSING_GRADIENT'],
    ['shape mismatch', () => ({ w: tf.ones([4]), b: tf.ones([1]) }), /parameter 'w' has shape \[4\]; expected \[3\]/, 'SHAPE_MISMATCH'],
    ['dtype mismatch', () => ({ w: tf.ones([3], 'int32'), b: tf.ones([1]) }), /parameter 'w' has dtype int32; expected float32/, 'DTYPE_MISMATCH'],
  ];

  for (const [label, grads, message, code] of cases) {
    it(`${label}: ${code}`, () => {
      const o = make();
      o.step({ w: tf.ones([3]), b: tf.ones([1]) });
      const before = snapshot(o);
      const tensorsBefore = tf.memory().numTensors;
      const g = grads();
      let caught: unknown;
      try {
        o.step(g);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(EmosensError);
      expect((caught as EmosensError).code).toBe(code);
      expect((caught as Error).message).toMatch(message);
      expect(snapshot(o)).toEqual(before);
      tf.dispose(Object.values(g));
      expect(tf.memory().numTensors).toBe(tensorsBefore);
    });
  }

  it('a non-float parameter is refused at init, naming it', () => {
    expect(() => statefulOptimizer(sgd(), { n: tf.tensor([1, 2], undefined, 'int32') })).toThrowError(
      /parameter 'n' has dtype int32; expected a float32 tensor/,
    );
  });

  it('a missing loss for a block that needs one names the block; nothing changes', () => {
    const needsLoss: GradientTransformation<{ count: number }> = {
      name: 'lossScaled',
      init: () => ({ count: 0 }),
      update(updates, state, _p, context) {
        const loss = context.requireLoss('lossScaled');
        return {
          updates: Object.fromEntries(Object.entries(updates).map(([k, u]) => [k, tf.mul(u, loss)])),
          state: { count: state.count + 1 },
        };
      },
    };
    const o = statefulOptimizer(chain(needsLoss, multiplyBy(-1)), { w: tf.tensor([1, 2]) });
    const before = tf.memory().numTensors;
    expect(() => o.step({ w: tf.ones([2]) })).toThrowError(/'lossScaled' needs this step's loss/);
    expect(values(o.params.w)).toEqual([1, 2]);
    expect(o.stepCount).toBe(0);
    expect(tf.memory().numTensors).toBe(before + 1); // only the gradient made above
    o.step({ w: tf.ones([2]) }, { loss: 0.5 });
    expect(values(o.params.w)).toEqual([0.5, 1.5]);
  });

  it('runTransform validates the updates a block returns', () => {
    const broken: GradientTransformation<Record<string, never>> = {
      name: 'broken',
      init: () => ({}),
      update: (_u, state) => ({ updates: { w: tf.ones([5]) }, state }),
    };
    const p = { w: tf.ones([3]) };
    const before = tf.memory().numTensors;
    const g = { w: tf.ones([3]) };
    expect(() => runTransform(broken, p, broken.init(p), g)).toThrowError(/broken: update for parameter 'w' has shape \[5\]/);
    expect(tf.memory().numTensors).toBe(before + 1);
  });
});

describe('tensor lifetime', () => {
  it('numTensors after step 100 equals its value after step 1; replaced state is disposed', () => {
    const o = statefulOptimizer(chain(momentum(0.9), multiplyBy(-0.01)), { w: tf.randomNormal([10, 3]), b: tf.zeros([3]) });
    const stepOnce = (i: number) => {
      const loss = tf.scalar(1 / (i + 1));
      const grads = { w: tf.onesLike(o.params.w!), b: tf.onesLike(o.params.b!) };
      o.step(grads, { loss });
      tf.dispose([loss, grads.w, grads.b]);
    };
    stepOnce(0);
    const afterFirst = tf.memory().numTensors;
    const firstMomentum = (o.state[0] as Record<string, tf.Tensor>).w!;
    stepOnce(1);
    expect(firstMomentum.isDisposed).toBe(true);
    for (let i = 2; i < 100; i++) stepOnce(i);
    expect(tf.memory().numTensors).toBe(afterFirst);
    expect(o.stepCount).toBe(100);
    o.dispose();
  });
});

describe('state is plain data', () => {
  it('flattens to paths and restores into the same shape', () => {
    const p = { w: tf.ones([2]) };
    const t = chain({ m: momentum(0.5), s: addConstant(1) });
    const state = t.update({ w: tf.ones([2]) }, t.init(p), p, createStepContext()).state;
    const leaves = flattenState(state);
    expect(leaves.map((l) => l.path)).toEqual(['m/w', 's/count']);
    const restored = unflattenState(t.init(p), new Map(leaves.map((l) => [l.path, l.value])));
    expect(values(restored.m.w)).toEqual([1, 1]);
    expect(restored.s.count).toBe(1);
    expect(() => unflattenState(t.init(p), new Map())).toThrowError(/no value for 'm\/w'/);
  });
});
