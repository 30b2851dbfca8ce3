import * as tf from '@tensorflow/tfjs-core';
import { EmosensError, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { adagrad, adamax, lion, nadam, radam, rmsprop, sgd } from '../src/index.js';

/** The torch-peers recordings, beside the clone: `<repo>/../shared/golden/torch-peers`. */
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const GOLDEN = path.resolve(repoRoot, '..', 'shared', 'golden', 'torch-peers');

type Hyper = Record<string, unknown>;
interface Recording {
  readonly optimizer: string;
  readonly hyper: Hyper;
  readonly params: Record<string, { shape: number[]; values: number[] }>;
  readonly steps: ReadonlyArray<{ grads: Record<string, number[]>; expected: Record<string, number[]> }>;
  readonly tolerance: { atol: number; rtol: number };
}

/** torch's snake_case constructor arguments -> this package's camelCase options. */
function camel(hyper: Hyper): Record<string, unknown> {
  return Object.fromEntries(Object.entries(hyper).map(([k, v]) => [k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), v]));
}

/** Builds the optimizer from the file's `optimizer` and `hyper` fields, never from the case name. */
const BUILDERS: Record<string, (o: never) => GradientTransformation<StateValue>> = {
  SGD: sgd,
  RMSprop: rmsprop,
  Adagrad: adagrad,
  Adamax: adamax,
  Lion: lion,
  NAdam: nadam,
  RAdam: radam,
};

const CASES = [
  'sgd.json',
  'sgd-momentum.json',
  'sgd-nesterov.json',
  'rmsprop.json',
  'rmsprop-centered-momentum.json',
  'adagrad.json',
  'adamax.json',
  'lion.json',
  'nadam.json',
  'radam.json',
];

/** Every step's parameters within `|a - e| <= atol + rtol * |e|`, composed path; returns the failures. */
function runRecording(rec: Recording): string[] {
  const build = BUILDERS[rec.optimizer];
  if (!build) throw new Error(`no builder for torch class ${rec.optimizer}`);
  const tx = build(camel(rec.hyper) as never);
  const params = Object.fromEntries(Object.entries(rec.params).map(([k, p]) => [k, tf.tensor(p.values, p.shape, 'float32')]));
  const opt = statefulOptimizer(tx, params, { fused: false });
  tf.dispose(Object.values(params));
  const { atol, rtol } = rec.tolerance;
  const failures: string[] = [];
  try {
    rec.steps.forEach((step, t) => {
      const grads = Object.fromEntries(
        Object.entries(step.grads).map(([k, g]) => [k, tf.tensor(g, rec.params[k]!.shape, 'float32')]),
      );
      opt.step(grads);
      tf.dispose(Object.values(grads));
      for (const [k, expected] of Object.entries(step.expected)) {
        const actual = opt.params[k]!.dataSync();
        expected.forEach((e, i) => {
          const a = actual[i]!;
          if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e)) && failures.length < 5) {
            failures.push(`step ${t}, ${k}[${i}]: got ${a}, expected ${e}`);
          }
        });
      }
    });
  } finally {
    opt.dispose();
  }
  return failures;
}

describe('golden trajectories (../shared/golden/torch-peers, composed path)', () => {
  for (const file of CASES) {
    const full = path.join(GOLDEN, file);
    it(`${file}: every step within the recorded tolerance`, (ctx) => {
      // outside this repository's layout the shared recordings may be absent: skipped, saying where
      if (!existsSync(full)) ctx.skip(`no recording at ${full}`);
      const rec = JSON.parse(readFileSync(full, 'utf8')) as Recording;
      expect(rec.steps.length).toBeGreaterThan(0);
      expect(runRecording(rec)).toEqual([]);
    });
  }
});

/** Parameters after 5 composed steps of `tx` on fixed, changing gradients. */
function trajectory(tx: GradientTransformation<StateValue>): number[] {
  const init = { w: tf.randomNormal([4, 3], 0, 1, 'float32', 7), b: tf.randomNormal([3], 0, 1, 'float32', 8) };
  const opt = statefulOptimizer(tx, init, { fused: false });
  tf.dispose(Object.values(init));
  for (let t = 0; t < 5; t++) {
    const g = { w: tf.randomNormal([4, 3], 0, 1, 'float32', 9 + t), b: tf.randomNormal([3], 0, 1, 'float32', 20 + t) };
    opt.step(g);
    tf.dispose(Object.values(g));
  }
  const out = [...opt.params.w!.dataSync(), ...opt.params.b!.dataSync()];
  opt.dispose();
  return out;
}

describe('defaults are torch defaults', () => {
  // A run with defaults equals the run with torch's values spelled out, and differs
  // from a run with one of them changed (so the comparison can fail).
  it.each([
    ['sgd', sgd, { lr: 1e-3, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 }, { lr: 2e-3 }],
    ['sgd (momentum)', (o: object) => sgd({ momentum: 0.9, ...o }), { lr: 1e-3, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0 }, { dampening: 0.5 }],
    ['rmsprop', rmsprop, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false }, { alpha: 0.9 }],
    ['adagrad', adagrad, { lr: 1e-2, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10 }, { initialAccumulatorValue: 0.1 }],
    ['adamax', adamax, { lr: 2e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, { betas: [0.8, 0.999] }],
    ['lion', lion, { lr: 1e-4, betas: [0.9, 0.99], weightDecay: 0 }, { lr: 2e-4 }],
  ] as const)('%s', (_name, make, spelled, changed) => {
    const build = make as (o?: object) => GradientTransformation<StateValue>;
    const defaults = trajectory(build());
    expect(trajectory(build(spelled))).toEqual(defaults);
    expect(trajectory(build({ ...spelled, ...changed }))).not.toEqual(defaults);
    expect(trajectory(build({ ...spelled, weightDecay: 0.1 }))).not.toEqual(defaults);
  });

  it('weight decay is L2 (before the direction) for adagrad and decoupled for lion', () => {
    // Adagrad normalises g + wd * p, so wd changes the direction, not just adds wd * p * lr.
    // Lion: p -= lr * (sign(...) + wd * p) exactly.
    const plain = trajectory(lion({ lr: 0.01 }));
    const decayed = trajectory(lion({ lr: 0.01, weightDecay: 0.5 }));
    expect(decayed).not.toEqual(plain);
    // one step on a zero gradient: sign(0) = 0, so only the decay moves p
    const p = { w: tf.tensor([2, -4], [2], 'float32') };
    const opt = statefulOptimizer(lion({ lr: 0.1, weightDecay: 0.5 }), p, { fused: false });
    const g = { w: tf.zeros([2]) };
    opt.step(g);
    expect(Array.from(opt.params.w!.dataSync())).toEqual([Math.fround(2 * (1 - 0.05)), Math.fround(-4 * (1 - 0.05))]);
    opt.dispose();
    tf.dispose([p.w, g.w]);
    // Adagrad, one step from p = 2, g = 1, wd 0.5, lr 0.1: g + wd p = 2, sum = 4, so the
    // normalised step is 2 / sqrt(4) = 1 and p = 1.9 (decoupled decay would give 1.8).
    const q = { w: tf.tensor([2], [1], 'float32') };
    const ada = statefulOptimizer(adagrad({ lr: 0.1, weightDecay: 0.5 }), q, { fused: false });
    const h = { w: tf.ones([1]) };
    ada.step(h);
    expect(ada.params.w!.dataSync()[0]).toBeCloseTo(1.9, 6);
    ada.dispose();
    tf.dispose([q.w, h.w]);
  });
});

describe('options are validated, naming the optimizer and option', () => {
  it.each([
    [() => sgd({ momentum: -0.1 }), /sgd: option 'momentum' must be in \[0, inf\)/],
    [() => sgd({ nesterov: true }), /sgd: option 'nesterov' needs momentum > 0 and dampening 0/],
    [() => sgd({ nesterov: true, momentum: 0.9, dampening: 0.1 }), /sgd: option 'nesterov' needs momentum > 0 and dampening 0/],
    [() => sgd({ dampening: 2 }), /sgd: option 'dampening' must be in \[0, 1\]/],
    [() => sgd({ lr: -1 }), /sgd: option 'lr'/],
    [() => sgd({ weight_decay: 0.1 } as never), /sgd: unknown option 'weight_decay'/],
    [() => rmsprop({ momentum: -1 }), /rmsprop: option 'momentum' must be in \[0, inf\)/],
    [() => rmsprop({ alpha: 1.5 }), /rmsprop: option 'alpha' must be in \[0, 1\]/],
    [() => rmsprop({ centered: 'yes' as never }), /rmsprop: option 'centered' must be true or false/],
    [() => adagrad({ lrDecay: 0.1 } as never), /adagrad: unknown option 'lrDecay'/],
    [() => adagrad({ initialAccumulatorValue: -1 }), /adagrad: option 'initialAccumulatorValue'/],
    [() => adamax({ betas: [0.9, 1] }), /adamax: option 'betas\[1\]' must be in \[0, 1\)/],
    [() => adamax({ eps: Number.NaN }), /adamax: option 'eps' must be a finite number/],
    [() => lion({ eps: 1e-8 } as never), /lion: unknown option 'eps'/],
    [() => lion({ weightDecay: -0.1 }), /lion: option 'weightDecay'/],
    [() => lion(null as never), /lion: options must be an object/],
  ])('%#', (make, message) => {
    expect(make).toThrowError(EmosensError);
    expect(make).toThrowError(message);
  });
});

describe('every torch optimizer', () => {
  const ALL = { sgd, rmsprop, adagrad, adamax, lion } as const;
  for (const [name, make] of Object.entries(ALL)) {
    it(`${name}: no tensor leaks over 50 steps, and it descends`, () => {
      const init = { w: tf.randomNormal([4, 3], 0, 1, 'float32', 7) };
      const opt = statefulOptimizer(make({ lr: 0.01 }), init);
      tf.dispose(init.w);
      const lossOf = () => tf.sum(tf.square(opt.params.w!)) as tf.Scalar;
      const initial = tf.tidy(() => lossOf().arraySync() as number);
      const stepOnce = () => {
        const { value, grads } = tf.variableGrads(lossOf, [opt.params.w!]);
        opt.step({ w: grads[opt.params.w!.name]! });
        tf.dispose([value, ...Object.values(grads)]);
      };
      stepOnce();
      const afterFirst = tf.memory().numTensors;
      for (let i = 1; i < 50; i++) stepOnce();
      expect(tf.memory().numTensors).toBe(afterFirst);
      expect(tf.tidy(() => lossOf().arraySync() as number)).toBeLessThan(initial);
      opt.dispose();
    });
  }
});

describe('lr may be a schedule of the step count', () => {
  it('sgd and adamw take each step with the schedule\'s value (decay scaled too), and a NaN value is named', () => {
    const p = { w: tf.tensor([1, -2], [2], 'float32') };
    const lrs = [0.1, 0.2, 0.05];
    const opt = statefulOptimizer(sgd({ lr: (t: number) => lrs[t] ?? Number.NaN }), p, { fused: false });
    const w0 = Array.from(p.w.dataSync());
    tf.dispose(Object.values(p));
    const g = { w: tf.tensor([0.5, 1], [2], 'float32') };
    let expected = w0;
    for (const lr of lrs) {
      opt.step(g);
      expected = expected.map((w, i) => w - lr * [0.5, 1][i]!);
      const actual = Array.from(opt.params.w!.dataSync());
      actual.forEach((a, i) => expect(a).toBeCloseTo(expected[i]!, 6));
    }
    expect(() => opt.step(g)).toThrowError(/schedule returned NaN at step 3/);
    tf.dispose(Object.values(g));
    opt.dispose();
  });

  it('a non-function, non-number lr is rejected by name', () => {
    expect(() => sgd({ lr: '0.1' as never })).toThrowError(/sgd: option 'lr'/);
    expect(() => rmsprop({ lr: -1 })).toThrowError(/rmsprop: option 'lr'/);
  });
});
