import * as tf from '@tensorflow/tfjs-core';
import { EmosensError, flattenState, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { emoAiryV3, emoCatsV3, emoSensV3, emoTion, emoVoid } from '../src/index.js';

/** Parameters after 6 composed steps on fixed gradients and a falling, then rising, loss. */
function trajectory(tx: GradientTransformation<StateValue>): number[] {
  const init = { w: tf.randomNormal([4, 3], 0, 1, 'float32', 7), b: tf.randomNormal([3], 0, 1, 'float32', 8) };
  const opt = statefulOptimizer(tx, init, { fused: false });
  tf.dispose(Object.values(init));
  for (let t = 0; t < 6; t++) {
    const g = { w: tf.randomNormal([4, 3], 0, 1, 'float32', 9 + t), b: tf.randomNormal([3], 0, 1, 'float32', 20 + t) };
    opt.step(g, { loss: 2 - 0.3 * t + (t === 4 ? 3 : 0) });
    tf.dispose(Object.values(g));
  }
  const out = [...opt.params.w!.dataSync(), ...opt.params.b!.dataSync()];
  opt.dispose();
  return out;
}

describe('the v3.9.1 optimizers: reference defaults', () => {
  // Each default run equals the run with the reference's values spelled out, and differs
  // from a run with one of them changed (so the comparison can fail).
  const reference = { lr: 1, stopcoef: 0.04, useShadow: false } as const;
  it.each([
    ['emoSensV3', emoSensV3, { ...reference, betas: [0.9, 0.995], eps: 1e-8, weightDecay: 0.01 }, { weightDecay: 0.1 }],
    ['emoAiryV3', emoAiryV3, { ...reference, betas: [0.9, 0.995], eps: 1e-8, weightDecay: 0.01 }, { weightDecay: 0.5 }],  // the direction is a sign: b2 hardly shows
    ['emoCatsV3', emoCatsV3, { ...reference, betas: [0.9, 0.995], eps: 1e-8, weightDecay: 0.01 }, { betas: [0.5, 0.995] }],
    ['emoTion', emoTion, { ...reference, betas: [0.9, 0.995] }, { betas: [0.5, 0.995] }],
    ['emoVoid', emoVoid, reference, { lr: 2 }],
  ] as const)('%s', (_name, make, spelled, changed) => {
    const build = make as (o?: object) => GradientTransformation<StateValue>;
    const defaults = trajectory(build());
    expect(trajectory(build(spelled))).toEqual(defaults);
    expect(trajectory(build({ ...spelled, lr: 0.5 }))).not.toEqual(defaults);
    expect(trajectory(build({ ...spelled, ...changed }))).not.toEqual(defaults);
  });

  it('the step size is emoPulse\'s: the first step moves each weight by lr * 1e-4 along the sign (EmoVoid, no rescale yet)', () => {
    const p = { w: tf.tensor([1, -2, 3]) };
    const opt = statefulOptimizer(emoVoid({ lr: 0.5 }), p, { fused: false });
    tf.dispose(Object.values(p));
    const g = { w: tf.tensor([0.1, -0.2, 0]) };
    opt.step(g, { loss: 1 });
    expect(opt.readSignal('stepSize')).toBeCloseTo(0.5 * 1e-4, 10); // a float32 signal
    const w = Array.from(opt.params.w!.dataSync());
    [1 - 0.5e-4, -2 + 0.5e-4, 3].forEach((e, i) => expect(w[i]).toBeCloseTo(e, 6));
    tf.dispose(Object.values(g));
    opt.dispose();
  });

  it('shadow state exists only when asked for', () => {
    const p = { w: tf.zeros([2, 2]) };
    expect(flattenState(emoSensV3().init(p)).some((l) => l.path.includes('shadow'))).toBe(false);
    expect(flattenState(emoSensV3({ useShadow: true }).init(p)).some((l) => l.path.includes('shadow'))).toBe(true);
    p.w.dispose();
  });
});

describe('the v3.9.1 optimizers: options are validated, naming the optimizer and option', () => {
  it.each([
    [() => emoSensV3({ lr: 0 }), /emoSensV3: option 'lr'/],
    [() => emoAiryV3({ betas: [0.9, 1] }), /emoAiryV3: option 'betas\[1\]'/],
    [() => emoCatsV3({ stopcoef: -1 }), /emoCatsV3: option 'stopcoef'/],
    [() => emoTion({ weightDecay: 0.01 } as never), /emoTion: unknown option 'weightDecay'/],
    [() => emoVoid({ betas: [0.9, 0.99] } as never), /emoVoid: unknown option 'betas'/],
    [() => emoSensV3({ decoupledWeightDecay: true } as never), /emoSensV3: unknown option 'decoupledWeightDecay'/],
  ])('%#', (make, message) => {
    expect(make).toThrowError(EmosensError);
    expect(make).toThrowError(message);
  });

  it('needs the loss every step', () => {
    const p = { w: tf.tensor([1, 2]) };
    const opt = statefulOptimizer(emoSensV3(), p, { fused: false });
    const g = { w: tf.tensor([1, 1]) };
    expect(() => opt.step(g)).toThrowError(/needs this step's loss/);
    tf.dispose([p.w, g.w]);
    opt.dispose();
  });
});
