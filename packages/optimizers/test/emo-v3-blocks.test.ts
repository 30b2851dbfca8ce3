import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { chain, flattenState, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { emoPulse, trackEmotionV3 } from '@emosens/emotion';
import { addDecayedWeights, rescaleToPreviousNorm, scaleByLearningRate, scaleBySign, withPreviousNormRescale } from '@emosens/modifiers';
import { scaleByAdam, scaleByFreshnessMoment, scaleByLionMoment } from '@emosens/moments';
import { withShadow } from '@emosens/shadow';
import { describe, expect, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle.
import { registerCpuKernels } from '../../backend-cpu/src/index.js';

/**
 * The v3.9.1 blocks (`scaleByFreshnessMoment`, `withShadow` rule v3, `rescaleToPreviousNorm`)
 * in hand-built chains, replayed against the emo-v3 recordings on both paths: the
 * parameters after every step and the final `exp_avg` / `shadow`, within the recordings'
 * tolerance. (The named optimizers are assembled elsewhere; this checks the blocks.)
 */
interface Recording {
  readonly hyper: { readonly lr?: number; readonly weight_decay?: number };
  readonly params: Readonly<Record<string, { readonly shape: number[]; readonly values: number[] }>>;
  readonly steps: readonly { readonly loss: number; readonly grads: Record<string, number[]>; readonly expected: Record<string, number[]> }[];
  readonly final_state: Readonly<Record<string, Readonly<Record<string, number[]>>>>;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dir = process.env.EMOSENS_GOLDEN_DIR ? path.join(process.env.EMOSENS_GOLDEN_DIR, 'emo-v3') : path.resolve(root, '..', 'shared', 'golden', 'emo-v3');
const available = existsSync(dir);
if (!available) console.log(`emo-v3 block replay skipped: no recordings at ${dir} (set EMOSENS_GOLDEN_DIR)`);

const pulse = () => scaleByLearningRate({ fromValue: 'stepSize' });
const head = (r: Recording) => [trackEmotionV3(), emoPulse({ lr: r.hyper.lr ?? 1 })] as const;
/** Chain member 2 holds the block under test; the final state's paths below it. */
const cases: Record<string, { file: string; make: (r: Recording) => GradientTransformation<StateValue>; final: Record<string, (param: string) => string> }> = {
  'EmoTion: scaleByFreshnessMoment': {
    file: 'emotion-v3.json',
    make: (r) => chain(...head(r), scaleByFreshnessMoment({ b1: 0.9 }), scaleBySign(), pulse()) as never,
    final: { exp_avg: (k) => `2/mu/${k}` },
  },
  'EmoVoid: rescaleToPreviousNorm': {
    file: 'emovoid-v3.json',
    make: (r) => chain(...head(r), scaleBySign(), pulse(), rescaleToPreviousNorm()) as never,
    final: {},
  },
  'EmoVoid, shouldStop turns on: rescaleToPreviousNorm': {
    file: 'emovoid-v3-calm.json',
    make: (r) => chain(...head(r), scaleBySign(), pulse(), rescaleToPreviousNorm()) as never,
    final: {},
  },
  'EmoVoid, shouldStop turns on: withPreviousNormRescale': {
    file: 'emovoid-v3-calm.json',
    make: (r) => chain(...head(r), withPreviousNormRescale(chain(scaleBySign(), pulse()))) as never,
    final: {},
  },
  'EmoSens with shadow: withShadow rule v3': {
    file: 'emosens-v3-shadow.json',
    make: (r) =>
      chain(
        ...head(r),
        withShadow(chain(scaleByAdam({ b1: 0.9, b2: 0.995, eps: 1e-8, biasCorrection: false }), addDecayedWeights(r.hyper.weight_decay ?? 0.01), pulse()), { rule: 'v3' }),
      ) as never,
    final: { shadow: (k) => `2/shadow/${k}/value` },
  },
  'EmoCats with shadow: withShadow rule v3': {
    file: 'emocats-v3-shadow.json',
    make: (r) =>
      chain(...head(r), withShadow(chain(scaleByLionMoment({ b1: 0.9, b2: 0.995 }), scaleBySign(), addDecayedWeights(r.hyper.weight_decay ?? 0.01), pulse()), { rule: 'v3' })) as never,
    final: { shadow: (k) => `2/shadow/${k}/value` },
  },
};

const within = (actual: ArrayLike<number>, expected: readonly number[], what: string) =>
  expected.forEach((e, i) => {
    if (!(Math.abs(actual[i]! - e) <= 1e-6 + 1e-4 * Math.abs(e))) expect.fail(`${what}[${i}]: ${actual[i]} vs ${e}`);
  });

describe.skipIf(!available).each([
  ['composed', false],
  ['fused (cpu target)', true],
] as const)('the v3 blocks replay the emo-v3 recordings, %s', (_label, fused) => {
  it.each(Object.keys(cases))('%s', (label) => {
    const { file, make, final } = cases[label]!;
    const r = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Recording;
    const unregister = fused ? registerCpuKernels() : undefined;
    try {
      const vars = Object.fromEntries(Object.entries(r.params).map(([k, p]) => [k, tf.variable(tf.tensor(p.values, p.shape))]));
      const opt = statefulOptimizer(make(r), vars, { fused });
      r.steps.forEach((s, t) => {
        const g = Object.fromEntries(Object.entries(s.grads).map(([k, x]) => [k, tf.tensor(x, r.params[k]!.shape)]));
        opt.step(g, { loss: s.loss });
        tf.dispose(Object.values(g));
        for (const [k, e] of Object.entries(s.expected)) within(vars[k]!.dataSync(), e, `step ${t + 1}, '${k}'`);
      });
      expect(opt.path).toBe(fused ? 'fused' : 'composed');
      const leaves = new Map(flattenState(opt.state).map((l) => [l.path, l.value]));
      for (const [k, fields] of Object.entries(r.final_state)) {
        for (const [field, at] of Object.entries(final)) within((leaves.get(at(k)) as tf.Tensor).dataSync(), fields[field]!, `final ${field} of '${k}'`);
      }
      opt.dispose();
      tf.dispose(Object.values(vars));
    } finally {
      unregister?.();
    }
  });
});
