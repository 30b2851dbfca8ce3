import * as tf from '@tensorflow/tfjs-core';
import { chain, composedUpdate, EmosensError, statefulOptimizer, type EmptyState, type FusionForm, type GradientTransformation } from '@emosens/core';
import { emoPulse, trackEmotionV3 } from '@emosens/emotion';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle
// (backend-cpu's tests depend on @emosens/modifiers), which turbo refuses.
import { registerCpuKernels } from '../../backend-cpu/src/index.js';
import { scaleByLearningRate, type LearningRateFromValue, type ScheduleState } from '../src/index.js';

const v = (t: tf.Tensor | undefined) => Array.from(t!.dataSync());

/** Publishes the host value `rate` = 2 * loss (a stand-in for emoPulse's stepSize). */
function publishRate(): GradientTransformation<EmptyState> {
  const name = 'publishRate';
  const fusion: FusionForm = {
    update(updates, state, _params, context) {
      context.publishValue('rate', 2 * context.lossValue(name), name);
      return { updates, state };
    },
  };
  return { name, init: () => ({}), update: composedUpdate(name, fusion), fusion };
}

describe('scaleByLearningRate({ fromValue })', () => {
  let unregister: () => void = () => {};
  beforeAll(() => {
    unregister = registerCpuKernels({ precision: 'exact' });
  });
  afterAll(() => unregister());

  for (const fused of [false, true]) {
    it(`multiplies by -value, the value read each step (${fused ? 'fused' : 'composed'})`, () => {
      const opt = statefulOptimizer(chain(publishRate(), scaleByLearningRate({ fromValue: 'rate' })), { w: tf.tensor1d([1, 2]) }, { fused });
      const g = tf.tensor1d([0.5, -1]);
      // loss 0.25: rate 0.5, u = -0.5 g = (-0.25, 0.5)
      opt.step({ w: g }, { loss: 0.25 });
      expect(opt.path).toBe(fused ? 'fused' : 'composed');
      expect(v(opt.params.w)).toEqual([0.75, 2.5]);
      // loss 1: rate 2, u = -2 g = (-1, 2)
      opt.step({ w: g }, { loss: 1 });
      expect(v(opt.params.w)).toEqual([-0.25, 4.5]);
      expect(opt.state).toEqual([{}, {}]);
      opt.dispose();
      g.dispose();
    });
  }

  it("applies emoPulse's stepSize: 1e-4 on the first step", () => {
    // first step: s = 0, trust = 1, dNR stays 1, c = 0: pulse = max(min(1 * (1 * 1 * 1e-4), 3e-3), 1e-8) = 1e-4
    const opt = statefulOptimizer(chain(trackEmotionV3(), emoPulse(), scaleByLearningRate({ fromValue: 'stepSize' })), { w: tf.tensor1d([1]) }, { fused: false });
    const g = tf.tensor1d([1000]);
    opt.step({ w: g }, { loss: 2 });
    expect(v(opt.params.w)[0]).toBeCloseTo(1 - 0.1, 6);
    expect(opt.readSignal('stepSize')).toBeCloseTo(1e-4, 10);
    opt.dispose();
    g.dispose();
  });

  it('throws MISSING_SIGNAL, naming the block and the value, when no earlier block published it', () => {
    const opt = statefulOptimizer(scaleByLearningRate({ fromValue: 'stepSize' }), { w: tf.tensor1d([1]) }, { fused: false });
    const g = tf.tensor1d([1]);
    let error: unknown;
    try {
      opt.step({ w: g }, { loss: 1 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EmosensError);
    expect((error as EmosensError).code).toBe('MISSING_SIGNAL');
    expect((error as EmosensError).message).toMatch(/scaleByLearningRate/);
    expect((error as EmosensError).message).toMatch(/stepSize/);
    expect(v(opt.params.w)).toEqual([1]); // nothing changed
    opt.dispose();
    g.dispose();
  });

  it("refuses a fromValue that is not a non-empty string, naming the option", () => {
    expect(() => scaleByLearningRate({ fromValue: '' })).toThrow(/scaleByLearningRate: option 'fromValue' must be the name of a host value/);
    expect(() => scaleByLearningRate({ fromValue: 3 } as never)).toThrow(EmosensError);
    expect(() => scaleByLearningRate({} as never)).toThrow(/option 'fromValue'/);
  });

  it('keeps the number and schedule forms; each form has its state type', () => {
    expect(scaleByLearningRate(0.1).init({})).toEqual({});
    expect(scaleByLearningRate(() => 0.1).init({})).toEqual({ count: 0 });
    expectTypeOf(scaleByLearningRate({ fromValue: 'stepSize' })).toEqualTypeOf<GradientTransformation<EmptyState>>();
    expectTypeOf(scaleByLearningRate(0.1)).toEqualTypeOf<GradientTransformation<EmptyState>>();
    expectTypeOf(scaleByLearningRate(() => 0.1)).toEqualTypeOf<GradientTransformation<ScheduleState>>();
    expectTypeOf<LearningRateFromValue>().toEqualTypeOf<{ readonly fromValue: string }>();
  });
});
