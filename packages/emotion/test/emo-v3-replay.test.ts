import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { chain, composedUpdate, statefulOptimizer, type EmptyState, type FusionForm, type GradientTransformation } from '@emosens/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle
// (backend-cpu's tests depend on @emosens/emotion through the optimizers), which turbo refuses.
import { registerCpuKernels } from '../../backend-cpu/src/index.js';
import { emoPulse, trackEmotionV3 } from '../src/index.js';

/** One step's host values, as a probe at the end of the chain reads them. */
interface Seen {
  readonly emotion: number;
  readonly trust: number;
  readonly medium: number;
  readonly stepSize: number;
  readonly shouldStop: number;
}

/** A block that records the step's host values into `log` (on both paths: it is a fused form). */
function probe(log: Seen[]): GradientTransformation<EmptyState> {
  const name = 'probe';
  const fusion: FusionForm = {
    update(updates, state, _params, context) {
      log.push({
        emotion: context.readValue('emotion', name),
        trust: context.readValue('trust', name),
        medium: context.readValue('emotionMedium', name),
        stepSize: context.readValue('stepSize', name),
        shouldStop: context.readValue('shouldStop', name),
      });
      return { updates, state };
    },
  };
  return { name, init: () => ({}), update: composedUpdate(name, fusion), fusion };
}

interface Recording {
  readonly case: string;
  readonly hyper: { readonly lr?: number };
  readonly steps: readonly { readonly loss: number; readonly scalar: number; readonly lr: number; readonly should_stop: boolean }[];
}

/** `<repo>/../shared/golden/emo-v3`, or `$EMOSENS_GOLDEN_DIR/emo-v3`. */
function findRecordings(): { dir: string } | { reason: string } {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const dir = process.env.EMOSENS_GOLDEN_DIR
    ? path.join(process.env.EMOSENS_GOLDEN_DIR, 'emo-v3')
    : path.resolve(root, '..', 'shared', 'golden', 'emo-v3');
  return existsSync(dir) ? { dir } : { reason: `no emo-v3 recordings at ${dir} (set EMOSENS_GOLDEN_DIR)` };
}

const found = findRecordings();
const recordings: Recording[] =
  'dir' in found
    ? readdirSync(found.dir)
        .filter((f) => f.endsWith('.json') && f !== 'index.json')
        .sort()
        .map((f) => JSON.parse(readFileSync(path.join(found.dir, f), 'utf8')) as Recording)
    : [];
if ('reason' in found) console.log(`emo-v3 replay skipped: ${found.reason}`);

const relClose = (actual: number, expected: number, what: string) => {
  const err = Math.abs(actual - expected);
  if (err > 1e-12 * Math.abs(expected) && !(expected === 0 && err === 0)) {
    throw new Error(`${what}: ${actual} != ${expected} (relative error ${err / Math.abs(expected)})`);
  }
};

/** Runs `losses` through trackEmotionV3, emoPulse and the probe; every third step's loss is a tensor. */
function replay(
  losses: readonly number[],
  lr: number,
  fused: boolean,
): { seen: Seen[]; paths: (string | undefined)[]; signals: Record<string, number | undefined> } {
  const seen: Seen[] = [];
  const paths: (string | undefined)[] = [];
  const w = tf.zeros([3]);
  const zero = tf.zeros([3]);
  const opt = statefulOptimizer(chain(trackEmotionV3(), emoPulse({ lr }), probe(seen)), { w }, { fused });
  losses.forEach((l, t) => {
    if (t % 3 === 2) {
      const loss = tf.scalar(l);
      opt.step({ w: zero }, { loss });
      loss.dispose();
    } else {
      opt.step({ w: zero }, { loss: l });
    }
    paths.push(opt.path);
  });
  // the device signals of the last step
  const signals = { stepSize: opt.readSignal('stepSize'), emotion: opt.readSignal('emotion'), calm: opt.readSignal('calm') };
  opt.dispose();
  tf.dispose([w, zero]);
  return { seen, paths, signals };
}

/**
 * The v3 scalar rule with every operation rounded by `round`: the identity gives float64 (the
 * reference), `Math.fround` float32. Returns each step's scalar and branch (0: |dl| < 0.05,
 * 1: the medium branch, 2: the long branch).
 */
function scalarRule(losses: readonly number[], round: (x: number) => number): { scalar: number; branch: number }[] {
  const f = round;
  let short = 0;
  let medium = 0;
  let long = 0;
  return losses.map((raw, t) => {
    const l = f(raw);
    short = f(f(f(0.3) * l) + f(f(0.7) * (t === 0 ? l : short)));
    medium = f(f(f(0.05) * l) + f(f(0.95) * (t === 0 ? l : medium)));
    long = f(f(f(0.01) * l) + f(f(0.99) * (t === 0 ? l : long)));
    const sl = Math.max(long, f(1e-5));
    const sm = Math.max(medium, f(1e-5));
    const db = f(long - short);
    const dl = f(db / sl);
    const dm = f(db / sm);
    if (Math.abs(dl) < f(0.05)) return { scalar: f(Math.tanh(dl)), branch: 0 };
    if (f(Math.abs(dm) * sm) < f(Math.abs(dl) * sl)) return { scalar: f(Math.tanh(dm)), branch: 1 };
    return { scalar: f(Math.tanh(dl)), branch: 2 };
  });
}

describe('trackEmotionV3 + emoPulse against the emo-v3 recordings', () => {
  let unregister: () => void = () => {};
  beforeAll(() => {
    unregister = registerCpuKernels();
  });
  afterAll(() => unregister());

  it.skipIf(recordings.length === 0)('there are recordings to replay', () => {
    expect(recordings.length).toBeGreaterThanOrEqual(10);
  });

  for (const fused of [false, true]) {
    for (const rec of recordings) {
      it(`${rec.case} (${fused ? 'fused' : 'composed'}): scalar and step size within 1e-12 relative, should_stop exactly`, () => {
        const losses = rec.steps.map((s) => s.loss);
        const before = tf.memory().numTensors;
        const { seen, paths, signals } = replay(losses, rec.hyper.lr ?? 1, fused);
        expect(tf.memory().numTensors).toBe(before);
        expect(paths.every((p) => p === (fused ? 'fused' : 'composed'))).toBe(true);
        expect(seen).toHaveLength(rec.steps.length);
        rec.steps.forEach((step, t) => {
          relClose(seen[t]!.emotion, step.scalar, `${rec.case} step ${t} scalar`);
          relClose(seen[t]!.stepSize, step.lr, `${rec.case} step ${t} lr`);
          expect(seen[t]!.shouldStop, `${rec.case} step ${t} should_stop`).toBe(step.should_stop ? 1 : 0);
        });
        // the device signals carry the same values, rounded to float32
        const last = rec.steps[rec.steps.length - 1]!;
        expect(signals).toEqual({ stepSize: Math.fround(last.lr), emotion: Math.fround(last.scalar), calm: last.should_stop ? 1 : 0 });
      });
    }
  }

  it.skipIf(recordings.length === 0)('the calm cases do turn should_stop on', () => {
    const calm = recordings.filter((r) => r.case.endsWith('-calm'));
    expect(calm.length).toBeGreaterThan(0);
    for (const r of calm) expect(r.steps.some((s) => s.should_stop)).toBe(true);
  });

  it.skipIf(recordings.length === 0)('float32 arithmetic of the scalar rule takes other branches than the recordings: the float64 path matters', () => {
    for (const rec of recordings) {
      const losses = rec.steps.map((s) => s.loss);
      const f64 = scalarRule(losses, (x) => x);
      const f32 = scalarRule(losses, Math.fround);
      // the float64 replica is the recording
      rec.steps.forEach((step, t) => relClose(f64[t]!.scalar, step.scalar, `${rec.case} step ${t} float64 replica`));
      // float32 decides the tie |dm| * sm < |dl| * sl differently on some step of every recording...
      const otherBranch = f32.filter((r, t) => r.branch !== f64[t]!.branch).length;
      expect(otherBranch, rec.case).toBeGreaterThan(0);
      // ...and lands far from the recorded scalar there (beyond float32's rounding of it)
      const far = f32.filter((r, t) => Math.abs(r.scalar - rec.steps[t]!.scalar) > 1e-3 * Math.max(Math.abs(rec.steps[t]!.scalar), 1e-3)).length;
      expect(far, rec.case).toBeGreaterThan(0);
    }
  });
});
