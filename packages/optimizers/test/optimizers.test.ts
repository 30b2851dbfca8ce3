import * as tf from '@tensorflow/tfjs-core';
import { EmosensError, flattenState, statefulOptimizer } from '@emosens/core';
import { describe, expect, it } from 'vitest';
import { adam, adamw, emoAiry, emoCats, emoSens } from '../src/index.js';

const ALL = {
  emoSens,
  emoAiry,
  emoCats,
  adam,
  adamw,
  'emoSens+shadow': (o: object) => emoSens({ ...o, useShadow: true }),
  'emoAiry+shadow': (o: object) => emoAiry({ ...o, useShadow: true }),
  'emoCats+shadow': (o: object) => emoCats({ ...o, useShadow: true }),
} as const;
const EMO = { emoSens, emoAiry, emoCats } as const;

const params = () => ({ w: tf.randomNormal([4, 3], 0, 1, 'float32', 7), b: tf.randomNormal([3], 0, 1, 'float32', 8) });

/** Parameters after 5 composed steps of `tx` on fixed gradients and losses. */
function trajectory(tx: ReturnType<typeof emoSens>): number[] {
  const opt = statefulOptimizer(tx, params(), { fused: false });
  for (let t = 0; t < 5; t++) {
    // gradients that change from step to step (a constant one hides b1 from Adam's corrected moment)
    const g = { w: tf.randomNormal([4, 3], 0, 1, 'float32', 9 + t), b: tf.randomNormal([3], 0, 1, 'float32', 20 + t) };
    opt.step(g, { loss: 2 - 0.7 * t + (t === 3 ? 4 : 0) });
    tf.dispose(Object.values(g));
  }
  const out = [...opt.params.w!.dataSync(), ...opt.params.b!.dataSync()];
  opt.dispose();
  return out;
}

describe('defaults are the reference defaults', () => {
  // Each default run equals the run with the reference's values spelled out, and differs
  // from a run with one of them changed (so the comparison can fail).
  const reference = { lr: 1e-3, eps: 1e-8, useShadow: false } as const;
  const torch = { lr: 1e-3, eps: 1e-8, amsgrad: false } as const;
  it.each([
    ['emoSens', emoSens, { ...reference, betas: [0.9, 0.999], weightDecay: 0.01 }],
    ['emoAiry', emoAiry, { ...reference, betas: [0.9, 0.999], weightDecay: 0.01 }],
    ['emoCats', emoCats, { ...reference, betas: [0.9, 0.99], weightDecay: 0.01 }],
    ['adamw', adamw, { ...torch, betas: [0.9, 0.999], weightDecay: 0.01 }],
    ['adam', adam, { ...torch, betas: [0.9, 0.999], weightDecay: 0 }],
  ] as const)('%s', (_name, make, spelled) => {
    const defaults = trajectory(make());
    expect(trajectory(make(spelled as never))).toEqual(defaults);
    expect(trajectory(make({ ...spelled, lr: 2e-3 } as never))).not.toEqual(defaults);
    expect(trajectory(make({ ...spelled, betas: [0.8, spelled.betas[1]] } as never))).not.toEqual(defaults);
  });

  it('shadow is off unless asked for; EmoCats divides the decay by lr only when decoupled', () => {
    const p = params();
    expect(flattenState(emoSens().init(p)).some((l) => l.path.includes('shadow'))).toBe(false);
    expect(flattenState(emoSens({ useShadow: true }).init(p)).some((l) => l.path.includes('shadow'))).toBe(true);
    const decoupled = trajectory(emoCats({ lr: 0.01, weightDecay: 0.02, decoupledWeightDecay: true }));
    expect(decoupled).toEqual(trajectory(emoCats({ lr: 0.01, weightDecay: 2 })));
    expect(decoupled).not.toEqual(trajectory(emoCats({ lr: 0.01, weightDecay: 0.02 })));
  });
});

describe('options are validated, naming the optimizer and option', () => {
  it.each([
    [() => emoSens({ lr: -1 }), /emoSens: option 'lr'/],
    [() => emoAiry({ betas: [0.9, 1] }), /emoAiry: option 'betas\[1\]' must be in \[0, 1\)/],
    [() => emoCats({ decoupledWeightDecay: 'yes' as never }), /emoCats: option 'decoupledWeightDecay' must be true or false/],
    [() => adamw({ weightDecay: Number.NaN }), /adamw: option 'weightDecay' must be a finite number/],
    [() => emoSens({ learningRate: 0.1 } as never), /emoSens: unknown option 'learningRate'/],
    [() => adam({ useShadow: true } as never), /adam: unknown option 'useShadow'; known options: lr, betas, eps, weightDecay, amsgrad\./],
    [() => adamw({ amsgrad: 1 } as never), /adamw: option 'amsgrad' must be true or false/],
  ])('%#', (make, message) => {
    expect(make).toThrowError(EmosensError);
    expect(make).toThrowError(message);
  });
});

describe('every optimizer', () => {
  for (const [name, make] of Object.entries(ALL)) {
    it(`${name}: no tensor leaks over 100 steps, no readback with a tensor loss, and it descends`, () => {
      const opt = statefulOptimizer(make({ lr: 0.01 }), params());
      const lossOf = () => tf.add(tf.sum(tf.square(opt.params.w!)), tf.sum(tf.square(opt.params.b!))) as tf.Scalar;
      const initial = tf.tidy(() => lossOf().arraySync() as number);
      const backend = tf.backend();
      let reads = 0;
      const readSync = backend.readSync.bind(backend);
      const read = backend.read.bind(backend);
      backend.readSync = (id) => { reads += 1; return readSync(id); };
      backend.read = (id) => { reads += 1; return read(id); };
      const stepOnce = () => {
        const { value, grads } = tf.variableGrads(lossOf, [opt.params.w!, opt.params.b!]);
        opt.step({ w: grads[opt.params.w!.name]!, b: grads[opt.params.b!.name]! }, { loss: value });
        tf.dispose([value, ...Object.values(grads)]);
      };
      let afterFirst = 0;
      try {
        stepOnce();
        afterFirst = tf.memory().numTensors;
        for (let i = 1; i < 100; i++) stepOnce();
        expect(reads).toBe(0);
      } finally {
        backend.readSync = readSync;
        backend.read = read;
      }
      expect(tf.memory().numTensors).toBe(afterFirst);
      expect(tf.tidy(() => lossOf().arraySync() as number)).toBeLessThan(initial);
      opt.dispose();
    });
  }

  for (const [name, make] of Object.entries(EMO)) {
    it(`${name}: needs the loss (never a silent 0), and exposes the emotion scalar and calm flag`, () => {
      const opt = statefulOptimizer(make(), params());
      const grads = { w: tf.onesLike(opt.params.w!), b: tf.onesLike(opt.params.b!) };
      const before = Array.from(opt.params.w!.dataSync());
      expect(() => opt.step(grads)).toThrowError(/needs this step's loss/);
      expect(Array.from(opt.params.w!.dataSync())).toEqual(before);
      opt.step(grads, { loss: 2 });
      opt.step(grads, { loss: 1 });
      // short = 0.3 + 0.7 * 2 = 1.7, long = 0.01 + 0.99 * 2 = 1.99: s = tanh(5 * -0.29)
      expect(opt.readSignal('emotion')).toBeCloseTo(Math.tanh(-1.45), 5);
      expect(opt.readSignal('calm')).toBe(0);
      opt.dispose();
    });
  }
});

describe('adam and adamw place the weight decay as torch does', () => {
  /** One composed step of `tx` from p = [2, -4] on gradient g. */
  function oneStep(tx: ReturnType<typeof adam>, g: number[]): number[] {
    const p = { w: tf.tensor([2, -4], [2], 'float32') };
    const opt = statefulOptimizer(tx, p, { fused: false });
    tf.dispose(Object.values(p));
    const grads = { w: tf.tensor(g, [2], 'float32') };
    opt.step(grads);
    tf.dispose(Object.values(grads));
    const out = Array.from(opt.params.w!.dataSync());
    opt.dispose();
    return out;
  }

  it('adam: L2, the decay enters the normalised moments (first step moves each weight by lr)', () => {
    // step 1: m_hat = g', v_hat = g'^2, so u = g' / (|g'| + eps) = sign(g') with g' = g + wd * p.
    // With g = [0, 0] and wd 0.5: g' = [1, -2], so p moves by -lr * sign(g') ~ [-0.1, +0.1].
    const moved = oneStep(adam({ lr: 0.1, weightDecay: 0.5 }), [0, 0]);
    expect(moved[0]).toBeCloseTo(1.9, 6);
    expect(moved[1]).toBeCloseTo(-3.9, 6);
  });

  it('adamw: decoupled, a zero gradient moves each weight by lr * wd * p only', () => {
    const moved = oneStep(adamw({ lr: 0.1, weightDecay: 0.5 }), [0, 0]);
    expect(moved[0]).toBeCloseTo(2 - 0.1 * 0.5 * 2, 6);
    expect(moved[1]).toBeCloseTo(-4 + 0.1 * 0.5 * 4, 6);
  });

  it('amsgrad changes the trajectory once the second moment falls', () => {
    const run = (amsgrad: boolean) => {
      const p = { w: tf.tensor([1], [1], 'float32') };
      const opt = statefulOptimizer(adam({ lr: 0.1, amsgrad }), p, { fused: false });
      tf.dispose(Object.values(p));
      for (const g of [5, 0.1, 0.1]) {
        const grads = { w: tf.tensor([g], [1], 'float32') };
        opt.step(grads);
        tf.dispose(Object.values(grads));
      }
      const out = opt.params.w!.dataSync()[0]!;
      opt.dispose();
      return out;
    };
    expect(run(true)).not.toBeCloseTo(run(false), 4);
  });
});
