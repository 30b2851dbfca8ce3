import * as tf from '@tensorflow/tfjs-core';
import { disposeState, flattenState, type FusedStepArgs, type GradientTransformation, type StateValue } from '@emosens/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  adam,
  adamw,
  emoAiry,
  emoCats,
  emoSens,
  FUSED_KEYS,
  planFusedStep,
  replaceStateTensors,
  type FusedKey,
  type FusedPlanResult,
  type FusedStepPlan,
} from '../src/index.js';

type Leaves = Map<string, unknown>;
const leavesOf = (state: StateValue): Leaves => new Map(flattenState(state).map((l) => [l.path, l.value]));

/** A matrix (factored in EmoAiry) and a vector, as float32 variables, with gradients. */
function problem() {
  // tidy disposes the `ones` handles; the variables (never tidied) keep their storage
  const params = tf.tidy(() => ({ w: tf.variable(tf.ones([4, 3])), b: tf.variable(tf.ones([3])) }));
  const grads = { w: tf.fill([4, 3], 0.5), b: tf.fill([3], -0.5) };
  return { params, grads };
}

let live: { params: Record<string, tf.Variable>; grads: Record<string, tf.Tensor>; state: StateValue } | undefined;
let before = 0;
beforeEach(() => {
  before = tf.memory().numTensors;
});
afterEach(() => {
  if (live) {
    disposeState(live.state);
    tf.dispose([...Object.values(live.params), ...Object.values(live.grads)]);
    live = undefined;
  }
  expect(tf.memory().numTensors).toBe(before);
});

/** The arguments a fused kernel of `tx` would get at its first step. */
function argsFor(tx: GradientTransformation<StateValue>, loss: FusedStepArgs<StateValue>['loss'] = 1.5): FusedStepArgs<StateValue> {
  const { params, grads } = problem();
  const state = tx.init(params);
  live = { params, grads, state };
  return { params, grads, state, loss, options: tx.fused!.options };
}

function expectPlan(result: FusedPlanResult): FusedStepPlan {
  if ('decline' in result) throw new Error(`unexpected decline: ${result.decline}`);
  return result.plan;
}

function expectDecline(result: FusedPlanResult): string {
  if ('plan' in result) throw new Error('expected a decline, got a plan');
  return result.decline;
}

describe('FUSED_KEYS', () => {
  it('are the keys the reference optimizers declare (adam shares adamw)', () => {
    const declared = [emoSens(), emoAiry(), emoCats(), adamw(), adam()].map((tx) => tx.fused?.key);
    expect(declared).toEqual(['emoSens', 'emoAiry', 'emoCats', 'adamw', 'adamw']);
    expect([...FUSED_KEYS].sort()).toEqual([...new Set(declared)].sort());
  });
});

describe('planFusedStep finds every tensor of the composed layout', () => {
  const EMO: readonly [FusedKey, (o: object) => GradientTransformation<StateValue>][] = [
    ['emoSens', emoSens],
    ['emoAiry', emoAiry],
    ['emoCats', emoCats],
  ];

  for (const [key, make] of EMO) {
    for (const useShadow of [false, true]) {
      it(`${key}${useShadow ? ' with shadow' : ''}`, () => {
        const tx = make({ lr: 0.02, useShadow });
        const args = argsFor(tx);
        const plan = expectPlan(planFusedStep(key, args));
        const leaves = leavesOf(args.state);
        const inner = useShadow ? 'step/inner' : 'step';

        expect(plan.key).toBe(key);
        expect(plan.shadow).toBe(useShadow);
        expect(plan.biasCorrection).toBe(false);
        expect({ lr: plan.lr, b1: plan.b1, b2: plan.b2, eps: plan.eps, weightDecay: plan.weightDecay }).toEqual({
          lr: 0.02,
          b1: tx.fused!.options.b1,
          b2: tx.fused!.options.b2,
          eps: tx.fused!.options.eps,
          weightDecay: tx.fused!.options.weightDecay,
        });
        // the very tensors of the state, not copies
        for (const name of ['count', 'short', 'long', 'scalar', 'history', 'calm'] as const) {
          expect(plan.emotion?.[name], name).toBe(leaves.get(`emotion/${name}`));
        }
        const countPath = key === 'emoSens' ? `${inner}/direction/count` : key === 'emoAiry' ? `${inner}/direction/dense/count` : undefined;
        expect(plan.adamCount).toBe(countPath === undefined ? undefined : leaves.get(countPath));

        expect(plan.params.map((p) => p.name)).toEqual(['w', 'b']);
        const [w, b] = plan.params as [FusedStepPlan['params'][number], FusedStepPlan['params'][number]];
        expect(w.param).toBe(args.params.w);
        expect(w.grad).toBe(args.grads.w);
        if (key === 'emoSens') {
          expect([w.direction, w.filter, b.direction, b.filter]).toEqual(['adam', 'absAtLeast', 'adam', 'absAtLeast']);
          expect(w.state).toEqual([leaves.get(`${inner}/direction/mu/w`), leaves.get(`${inner}/direction/nu/w`)]);
        } else if (key === 'emoAiry') {
          expect([w.direction, w.filter, b.direction, b.filter]).toEqual(['factored', 'factored', 'adam', 'squareAbove']);
          expect(w.state).toEqual([leaves.get(`${inner}/direction/factored/w/row`), leaves.get(`${inner}/direction/factored/w/col`)]);
          expect(b.state).toEqual([leaves.get(`${inner}/direction/dense/mu/b`), leaves.get(`${inner}/direction/dense/nu/b`)]);
        } else {
          expect([w.direction, w.filter, b.direction, b.filter]).toEqual(['lion', 'absAtLeast', 'lion', 'absAtLeast']);
          expect(w.state).toEqual([leaves.get(`${inner}/direction/0/w`)]);
        }
        for (const s of w.state) expect(s).toBeInstanceOf(tf.Tensor);
        if (useShadow) {
          expect(w.shadow?.value).toBe(leaves.get('step/shadow/w/value'));
          expect(w.shadow?.taken).toBe(leaves.get('step/shadow/w/taken'));
          expect(b.shadow?.value).toBe(leaves.get('step/shadow/b/value'));
        } else {
          expect(w.shadow).toBeUndefined();
        }
      });
    }
  }

  it('adamw (and adam): the moments, their count, bias correction; no emotion, no loss needed', () => {
    for (const tx of [adamw({ lr: 0.1, weightDecay: 0.2 }), adam({ lr: 0.1, useShadow: true } as object)]) {
      const args = argsFor(tx, undefined);
      const plan = expectPlan(planFusedStep('adamw', args));
      const leaves = leavesOf(args.state);
      expect(plan.emotion).toBeUndefined();
      expect(plan.shadow).toBe(false);
      expect(plan.biasCorrection).toBe(true);
      expect(plan.adamCount).toBe(leaves.get('moments/count'));
      expect(plan.weightDecay).toBe(tx.fused!.options.weightDecay);
      expect(plan.params.map((p) => [p.name, p.direction, p.filter])).toEqual([
        ['w', 'adam', 'none'],
        ['b', 'adam', 'none'],
      ]);
      expect(plan.params[0]!.state).toEqual([leaves.get('moments/mu/w'), leaves.get('moments/nu/w')]);
      disposeState(args.state);
      tf.dispose([...Object.values(args.params), ...Object.values(args.grads)]);
      live = undefined;
    }
  });

  it('plans only the parameters that have gradients (allowMissing)', () => {
    const args = argsFor(emoSens());
    const plan = expectPlan(planFusedStep('emoSens', { ...args, grads: { b: args.grads.b! } }));
    expect(plan.params.map((p) => p.name)).toEqual(['b']);
  });

  it('accepts a scalar tensor loss and allocates nothing', () => {
    const loss = tf.scalar(2);
    const args = argsFor(emoCats(), loss);
    const count = tf.memory().numTensors;
    expectPlan(planFusedStep('emoCats', args));
    expect(tf.memory().numTensors).toBe(count);
    loss.dispose();
  });
});

describe('planFusedStep declines, saying why', () => {
  it('an Emo key without a loss, or with an invalid one', () => {
    const args = argsFor(emoSens());
    expect(expectDecline(planFusedStep('emoSens', { ...args, loss: undefined }))).toBe('no loss');
    const vector = tf.tensor([1, 2]);
    expect(expectDecline(planFusedStep('emoAiry', { ...args, loss: vector as unknown as tf.Scalar }))).toMatch(/loss: expected a number or a scalar tensor/);
    vector.dispose();
  });

  it("another optimizer's layout", () => {
    const args = argsFor(emoSens());
    expect(expectDecline(planFusedStep('emoCats', args))).toBe("Lion moment of 'w' is missing or misshapen");
    expect(expectDecline(planFusedStep('emoAiry', args))).toBe("the dense direction state's count must be a float32 scalar");
    expect(expectDecline(planFusedStep('adamw', args))).toBe('state.moments is missing');
    // the shadow layout is asked for by the options
    expect(expectDecline(planFusedStep('emoSens', { ...args, options: { ...args.options, useShadow: true } }))).toBe(
      'state.step.inner/shadow are missing (useShadow)',
    );
  });

  it('a misshapen moment, factored moment or shadow, naming the parameter', () => {
    const sens = argsFor(emoSens());
    const step = (sens.state as { step: { direction: { mu: Record<string, tf.Tensor> } } }).step;
    const mu = step.direction.mu.w!;
    step.direction.mu.w = tf.zeros([2, 2]);
    expect(expectDecline(planFusedStep('emoSens', sens))).toBe("moments of 'w' are missing or misshapen");
    step.direction.mu.w.dispose();
    step.direction.mu.w = mu;
    disposeState(sens.state);
    tf.dispose([...Object.values(sens.params), ...Object.values(sens.grads)]);

    const airy = argsFor(emoAiry({ useShadow: true }));
    const inner = (airy.state as { step: { inner: { direction: { factored: Record<string, { row: tf.Tensor }> } } } }).step.inner;
    const row = inner.direction.factored.w!.row;
    inner.direction.factored.w!.row = tf.zeros([3]);
    expect(expectDecline(planFusedStep('emoAiry', airy))).toBe("factored moments of 'w' are misshapen");
    inner.direction.factored.w!.row.dispose();
    inner.direction.factored.w!.row = row;
    const shadow = (airy.state as { step: { shadow: Record<string, { taken: tf.Tensor }> } }).step.shadow;
    const taken = shadow.b!.taken;
    shadow.b!.taken = tf.scalar(0, 'int32');
    expect(expectDecline(planFusedStep('emoAiry', airy))).toBe("the shadow of 'b' is missing or misshapen");
    shadow.b!.taken.dispose();
    shadow.b!.taken = taken;
    expectPlan(planFusedStep('emoAiry', airy));
  });

  it('a step count that is a number, or not a float32 scalar tensor', () => {
    const args = argsFor(emoSens());
    const emotion = (args.state as { emotion: Record<string, unknown> }).emotion;
    const count = emotion.count;
    emotion.count = 3;
    expect(expectDecline(planFusedStep('emoSens', args))).toBe(
      "state leaf 'emotion/count' is not a tensor (the fused kernel advances only tensor state)",
    );
    emotion.count = tf.tensor([0]);
    expect(expectDecline(planFusedStep('emoSens', args))).toBe('state.emotion.count must be a float32 scalar');
    (emotion.count as tf.Tensor).dispose();
    emotion.count = count;

    const direction = (args.state as { step: { direction: Record<string, unknown> } }).step.direction;
    const adamCount = direction.count as tf.Tensor;
    direction.count = tf.scalar(0, 'int32');
    expect(expectDecline(planFusedStep('emoSens', args))).toBe("the direction state's count must be a float32 scalar");
    (direction.count as tf.Tensor).dispose();
    direction.count = adamCount;
    expectPlan(planFusedStep('emoSens', args));
  });

  it('a disposed state tensor, a wrong emotion dtype', () => {
    const args = argsFor(emoCats());
    const emotion = (args.state as { emotion: Record<string, tf.Tensor> }).emotion;
    const calm = emotion.calm!;
    emotion.calm = tf.scalar(0);
    expect(expectDecline(planFusedStep('emoCats', args))).toBe('state.emotion.calm must be a bool scalar');
    emotion.calm.dispose();
    emotion.calm = calm;
    const history = emotion.history!;
    emotion.history = tf.zeros([2, 2]);
    expect(expectDecline(planFusedStep('emoCats', args))).toBe('state.emotion.history must be a float32 vector');
    emotion.history.dispose();
    emotion.history = history;
    const short = emotion.short!;
    emotion.short = tf.scalar(1);
    emotion.short.dispose();
    expect(expectDecline(planFusedStep('emoCats', args))).toBe('state.emotion.short/long/scalar must be float32 scalars');
    emotion.short = short;
  });

  it('parameters that are not float32 variables, gradients of the wrong shape', () => {
    const args = argsFor(adamw());
    const plain = tf.ones([3]);
    expect(expectDecline(planFusedStep('adamw', { ...args, params: { ...args.params, b: plain as tf.Variable } }))).toBe(
      "parameter 'b' must be a float32 variable",
    );
    expect(expectDecline(planFusedStep('adamw', { ...args, grads: { ...args.grads, x: plain } }))).toBe("parameter 'x' must be a float32 variable");
    const wrong = tf.ones([4]);
    expect(expectDecline(planFusedStep('adamw', { ...args, grads: { ...args.grads, b: wrong } }))).toBe(
      "gradient 'b' must be float32 of the parameter's shape",
    );
    tf.dispose([plain, wrong]);
  });

  it('non-finite or missing hyperparameters, a state that is not an object, an unknown key', () => {
    const args = argsFor(adamw());
    expect(expectDecline(planFusedStep('adamw', { ...args, options: { ...args.options, lr: Number.NaN } }))).toBe(
      'options lr, b1, b2, eps and weightDecay must be finite numbers',
    );
    const { eps: _eps, ...noEps } = args.options;
    expect(expectDecline(planFusedStep('adamw', { ...args, options: noEps }))).toBe('options lr, b1, b2, eps and weightDecay must be finite numbers');
    expect(expectDecline(planFusedStep('adamw', { ...args, state: 3 }))).toBe('state is not an object');
    expect(expectDecline(planFusedStep('lion' as FusedKey, args))).toBe("unknown fused key 'lion'");
  });
});

describe('replaceStateTensors', () => {
  it('keeps the layout, swaps the replaced tensors, leaves the old state as it was', () => {
    const args = argsFor(emoSens({ useShadow: true }));
    const plan = expectPlan(planFusedStep('emoSens', args));
    const oldCount = plan.emotion!.count;
    const newCount = tf.scalar(1);
    const next = replaceStateTensors(args.state, new Map([[oldCount, newCount]]));
    const oldLeaves = leavesOf(args.state);
    const newLeaves = leavesOf(next);
    expect([...newLeaves.keys()]).toEqual([...oldLeaves.keys()]);
    for (const [path, value] of newLeaves) {
      expect(value, path).toBe(path === 'emotion/count' ? newCount : oldLeaves.get(path));
    }
    expect(oldLeaves.get('emotion/count')).toBe(oldCount);
    newCount.dispose();
  });
});
