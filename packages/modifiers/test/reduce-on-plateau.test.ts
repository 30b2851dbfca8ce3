import * as tf from '@tensorflow/tfjs-core';
import { chain, disposeReplaced, EmosensError, explainFusion, runTransform, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { scaleByAdam } from '@emosens/moments';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// By source path: a devDependency on @emosens/backend-cpu would close a package cycle.
import { registerCpuKernels } from '../../backend-cpu/src/index.js';
import { reduceOnPlateau, scaleByLearningRate, type ReduceOnPlateauOptions } from '../src/index.js';

/** The scale each step used: reduceOnPlateau alone, on updates of 1, fed `losses` in turn. */
function scalesUsed(options: ReduceOnPlateauOptions, losses: number[]): number[] {
  const block = reduceOnPlateau(options);
  const params = { x: tf.zeros([1]) };
  let state = block.init(params);
  const used: number[] = [];
  for (const loss of losses) {
    const r = runTransform(block, params, state, { x: tf.ones([1]) }, { loss });
    used.push(r.updates.x!.dataSync()[0]!);
    disposeReplaced(state, r.state);
    state = r.state;
  }
  return used;
}

describe('reduceOnPlateau', () => {
  it('reduces the scale once more than `patience` steps have not improved, from the next step on', () => {
    // abs threshold 0: better = loss < best.  patience 1, factor 0.5:
    // t0: 1 < inf, best 1 | t1: 2 bad 1 | t2: 2 bad 2 > 1 -> scale 0.5 | t3: 0.5 better, best 0.5
    // t4: bad 1 | t5: bad 2 -> 0.25 | t6 uses 0.25
    expect(scalesUsed({ factor: 0.5, patience: 1, threshold: 0, thresholdMode: 'abs' }, [1, 2, 2, 0.5, 3, 3, 3])).toEqual([1, 1, 1, 0.5, 0.5, 0.5, 0.25]);
  });

  it('does not count bad steps during the cooldown', () => {
    // patience 0, cooldown 2, a flat loss: t1 bad -> 0.5 and cooldown 2; t2, t3 in cooldown (bad reset);
    // t4 bad -> 0.25
    expect(scalesUsed({ factor: 0.5, patience: 0, cooldown: 2, threshold: 0, thresholdMode: 'abs' }, [1, 1, 1, 1, 1, 1])).toEqual([1, 1, 0.5, 0.5, 0.5, 0.25]);
  });

  it('stops at minScale and skips reductions smaller than eps', () => {
    // max(0.5, 0.3) = 0.5, max(0.25, 0.3) = 0.3, then 0.3 - 0.3 = 0 is not > eps: stays
    expect(scalesUsed({ factor: 0.5, patience: 0, minScale: 0.3 }, [1, 1, 1, 1, 1])).toEqual([1, 1, 0.5, Math.fround(0.3), Math.fround(0.3)]);
    // eps 0.6: a reduction by 0.5 is too small, never taken
    expect(scalesUsed({ factor: 0.5, patience: 0, eps: 0.6 }, [1, 1, 1, 1])).toEqual([1, 1, 1, 1]);
  });

  it("mode 'max' counts a rise as better; 'rel' needs best * (1 + threshold)", () => {
    // threshold 0.1 rel: better = v > best * 1.1. t0: 1 > -inf, best 1 | t1: 1.05 not > 1.1, bad 1 -> patience 0 -> 0.5
    // t2: 2 > 1.1 better, best 2 | t3: 2.1 not > 2.2 -> 0.25
    expect(scalesUsed({ mode: 'max', factor: 0.5, patience: 0, threshold: 0.1 }, [1, 1.05, 2, 2.1, 0])).toEqual([1, 1, 0.5, 0.5, 0.25]);
  });

  it('takes the loss as a tensor without reading it back', () => {
    const block = reduceOnPlateau({ factor: 0.5, patience: 0 });
    const params = { x: tf.zeros([2]) };
    let state = block.init(params);
    const used: number[] = [];
    for (const value of [1, 1, 1]) {
      const loss = tf.scalar(value);
      const fail = () => {
        throw new Error('the loss was read back');
      };
      Object.assign(loss, { dataSync: fail, arraySync: fail, data: fail, array: fail });
      const r = runTransform(block, params, state, { x: tf.tensor1d([2, -4]) }, { loss });
      used.push(...r.updates.x!.dataSync());
      disposeReplaced(state, r.state);
      state = r.state;
      tf.dispose(loss);
    }
    // scales 1, 1, 0.5 times (2, -4)
    expect(used).toEqual([2, -4, 2, -4, 1, -2]);
  });

  it('throws MISSING_LOSS, naming the block, without a loss', () => {
    const block = reduceOnPlateau();
    const params = { x: tf.zeros([1]) };
    let error: unknown;
    try {
      runTransform(block, params, block.init(params), { x: tf.ones([1]) });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EmosensError);
    expect((error as EmosensError).code).toBe('MISSING_LOSS');
    expect((error as EmosensError).message).toMatch(/reduceOnPlateau/);
  });

  it('refuses bad options, naming them', () => {
    expect(() => reduceOnPlateau({ mode: 'least' as 'min' })).toThrow(/reduceOnPlateau: option 'mode' must be one of 'min', 'max', got least/);
    expect(() => reduceOnPlateau({ factor: 1 })).toThrow(/reduceOnPlateau: option 'factor' must be in \[0, 1\), got 1/);
    expect(() => reduceOnPlateau({ patience: -1 })).toThrow(/option 'patience' must be an integer >= 0, got -1/);
    expect(() => reduceOnPlateau({ patience: 1.5 })).toThrow(/option 'patience' must be an integer >= 0/);
    expect(() => reduceOnPlateau({ threshold: -1 })).toThrow(/option 'threshold' must be in \[0, inf\)/);
    expect(() => reduceOnPlateau({ thresholdMode: 'ratio' as 'rel' })).toThrow(/option 'thresholdMode' must be one of 'rel', 'abs'/);
    expect(() => reduceOnPlateau({ cooldown: -2 })).toThrow(/option 'cooldown' must be an integer >= 0/);
    expect(() => reduceOnPlateau({ minScale: -0.1 })).toThrow(/option 'minScale' must be in \[0, inf\)/);
    expect(() => reduceOnPlateau({ eps: NaN })).toThrow(/option 'eps' must be a finite number/);
    try {
      reduceOnPlateau({ factor: 2 });
    } catch (e) {
      expect((e as EmosensError).code).toBe('INVALID_OPTION');
    }
  });

  it('keeps its state as four float32 scalars and leaks nothing per step', () => {
    const block = reduceOnPlateau();
    const params = { w: tf.ones([3]) };
    const state = block.init(params);
    expect(Object.values(state).map((t) => [t.shape, t.dtype])).toEqual(Array(4).fill([[], 'float32']));
    expect(state.best.dataSync()[0]).toBe(Infinity);
    const before = tf.memory().numTensors;
    const r = runTransform(block, params, state, { w: tf.tensor1d([1, 2, 3]) }, { loss: 1 });
    disposeReplaced(state, r.state);
    // the new updates (1 tensor) and a new state of 4 scalars replacing the old 4; plus the grads (1)
    expect(tf.memory().numTensors).toBe(before + 2);
  });
});

// torch's ReduceLROnPlateau on an Adam run: ../shared/golden/torch-peers/adam-plateau.json
const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden/torch-peers/adam-plateau.json');

interface PlateauRecording {
  readonly hyper: { readonly lr: number };
  readonly schedule: { readonly args: { mode: 'min' | 'max'; factor: number; patience: number; threshold: number; threshold_mode: 'rel' | 'abs'; cooldown: number; min_lr: number; eps: number } };
  readonly params: Record<string, { shape: number[]; values: number[] }>;
  readonly steps: readonly { loss: number; lr: number; grads: Record<string, number[]>; expected: Record<string, number[]> }[];
  readonly tolerance: { atol: number; rtol: number };
}

function plateauChain(rec: PlateauRecording): GradientTransformation<StateValue> {
  const a = rec.schedule.args;
  const lr = rec.hyper.lr;
  return chain(
    scaleByAdam(), // torch Adam's defaults: betas (0.9, 0.999), eps 1e-8, bias correction
    reduceOnPlateau({
      mode: a.mode,
      factor: a.factor,
      patience: a.patience,
      threshold: a.threshold,
      thresholdMode: a.threshold_mode,
      cooldown: a.cooldown,
      minScale: a.min_lr / lr,
      eps: a.eps / lr,
    }),
    scaleByLearningRate(lr),
  );
}

describe('reduceOnPlateau against torch ReduceLROnPlateau (adam-plateau.json)', () => {
  let unregister: () => void;
  beforeAll(() => {
    unregister = registerCpuKernels();
  });
  afterAll(() => unregister());

  for (const fused of [false, true]) {
    it(`every step's parameters within the recording's tolerance, ${fused ? 'fused on the cpu target' : 'composed'}`, (ctx) => {
      if (!existsSync(file)) ctx.skip(`no recording at ${file}`);
      const rec = JSON.parse(readFileSync(file, 'utf8')) as PlateauRecording;
      // the recording reduces the lr several times: 0.01 -> 0.005 at step 21, ... down to 1.953125e-5
      expect(new Set(rec.steps.map((s) => s.lr)).size).toBeGreaterThan(4);
      const tx = plateauChain(rec);
      if (fused) expect(explainFusion(tx, 'cpu')).toEqual({ fused: true, target: 'typed-array' });
      const params = Object.fromEntries(Object.entries(rec.params).map(([k, p]) => [k, tf.tensor(p.values, p.shape, 'float32')]));
      const opt = statefulOptimizer(tx, params, { fused });
      tf.dispose(Object.values(params));
      const { atol, rtol } = rec.tolerance;
      const failures: string[] = [];
      const scaleNow = () => ((opt.state as unknown as StateValue[])[1] as { scale: tf.Scalar }).scale.dataSync()[0]! * rec.hyper.lr;
      const lrs: number[] = [];
      const before = tf.memory().numTensors;
      rec.steps.forEach((step, t) => {
        lrs.push(scaleNow()); // the lr step t uses
        const grads = Object.fromEntries(Object.entries(step.grads).map(([k, g]) => [k, tf.tensor(g, rec.params[k]!.shape, 'float32')]));
        // the loss as a tensor on even steps, a number on odd ones: both paths take either
        const loss = t % 2 === 0 ? tf.scalar(step.loss) : step.loss;
        opt.step(grads, { loss });
        tf.dispose([...Object.values(grads), ...(typeof loss === 'number' ? [] : [loss])]);
        for (const [k, expected] of Object.entries(step.expected)) {
          const actual = opt.params[k]!.dataSync();
          expected.forEach((e, i) => {
            if (!(Math.abs(actual[i]! - e) <= atol + rtol * Math.abs(e)) && failures.length < 5) failures.push(`step ${t}, ${k}[${i}]: ${actual[i]} vs torch ${e}`);
          });
        }
      });
      expect(failures).toEqual([]);
      // every step used torch's lr (the scale after the losses of the steps before it)
      expect(lrs).toEqual(rec.steps.map((step) => expect.closeTo(step.lr, 12)));
      expect(opt.path).toBe(fused ? 'fused' : 'composed');
      expect(tf.memory().numTensors).toBe(before); // steady state: nothing leaks per step
      opt.dispose();
    });
  }
});
