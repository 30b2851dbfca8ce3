import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi, type TestContext } from 'vitest';
import {
  EmosensError,
  explainFusion,
  flattenState,
  findFusionTarget,
  registerFusionTarget,
  statefulOptimizer,
  unflattenState,
  type FusionTarget,
  type StatefulOptimizer,
  type StateLeaf,
  type StateValue,
} from '@emosens/core';
import type {} from '@emosens/emotion';
import { describeResult, findGoldenDir, GOLDEN_SUITES, listCaseFiles, loadCase, runCase, transformFor } from '@emosens/golden';
import { GUARDED_BY_APPLY_IF_FINITE, randomChain, REFERENCE_OPTIMIZERS, WRAPPER_CHAINS, type NamedTransform } from './chains.js';
import { bits, firstMismatch, lossSchedule, randomGradValues, randomShape, randomValues, seeded, stateSnapshot, valuesOf } from './helpers.js';

/** A fusion target under test, on one tfjs backend. */
export interface ConformanceTarget {
  /** Shown in the suite's name, e.g. `'typed-array on cpu'`. */
  readonly name: string;
  /** The tfjs backend the target runs on. */
  readonly backend: string;
  /**
   * Makes `backend` usable and active (e.g. the WebGPU set-up). Resolves to the reason
   * when it cannot run here: every test of the suite is then skipped with that reason.
   */
  readonly prepare?: () => Promise<string | undefined>;
  /** Registers the target on `backend`; returns the function that unregisters it. */
  readonly register: () => () => void;
  /** Whether parameters and state keep their storage from step to step (written in place). */
  readonly inPlace: boolean;
  /** How close fused steps must be to composed ones (`|a - e| <= atol + rtol |e|`). Default the golden tolerance. */
  readonly tolerance?: { readonly rtol: number; readonly atol: number };
  /** Backend methods that read data back to the host; none may be called during a step. Default `read`, `readSync`. */
  readonly readMethods?: readonly string[];
  /** Steps per random run (default 40). */
  readonly steps?: number;
}

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..');

type Params = Record<string, tf.Tensor>;

/** Shapes of rank 0 to 5, a `[1]`, and (unless excluded) zero-size parameters. */
function shapesFor(rand: () => number, zeroSize: boolean): number[][] {
  const shapes = [[], [1], [7], randomShape(rand, 2), randomShape(rand, 3), randomShape(rand, 4, 4), randomShape(rand, 5, 3)];
  return zeroSize ? [...shapes, [0], [0, 3]] : shapes;
}

function randomParams(rand: () => number, shapes: readonly number[][]): Params {
  const out: Params = {};
  shapes.forEach((s, i) => (out[`p${i}`] = tf.tensor(randomValues(rand, tf.util.sizeFromShape(s)), s)));
  return out;
}

function randomGrads(rand: () => number, shapes: readonly number[][]): Params {
  const out: Params = {};
  shapes.forEach((s, i) => (out[`p${i}`] = tf.tensor(randomGradValues(rand, tf.util.sizeFromShape(s)), s)));
  return out;
}

async function expectClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): Promise<void> {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const i = firstMismatch(actual, expected, rtol, atol);
  if (i >= 0) expect.fail(`${what}[${i}]: fused ${actual[i]} vs composed ${expected[i]}`);
}

/** Runs fused and composed twins side by side for `steps` steps, comparing every step. */
async function compareTwins(
  named: NamedTransform,
  seed: number,
  steps: number,
  tol: { rtol: number; atol: number },
  zeroSize: boolean,
  hugeAt?: number,
): Promise<void> {
  const rand = seeded(seed);
  const shapes = shapesFor(rand, zeroSize);
  const init = randomParams(rand, shapes);
  const fused = statefulOptimizer(named.make(), init);
  const composed = statefulOptimizer(named.make(), init, { fused: false });
  const lossAt = lossSchedule(rand, steps);
  try {
    for (let t = 0; t < steps; t++) {
      let grads = randomGrads(rand, shapes);
      if (t === hugeAt) {
        // finite gradients of ±1e30: their second moments overflow float32 to Infinity
        const small = grads;
        grads = Object.fromEntries(Object.entries(small).map(([n, g]) => [n, tf.mul(tf.sign(g), 1e30)]));
        tf.dispose(Object.values(small));
      }
      const value = lossAt(t);
      const loss = t % 2 === 0 ? value : tf.scalar(value);
      fused.step(grads, { loss });
      composed.step(grads, { loss });
      expect(fused.path, `step ${t}: the fused twin's path`).toBe('fused');
      expect(composed.path).toBe('composed');
      tf.dispose([...Object.values(grads), ...(typeof loss === 'number' ? [] : [loss])]);
      for (const name of Object.keys(init)) {
        await expectClose(`step ${t}, ${name}`, await valuesOf(fused.params[name]!), await valuesOf(composed.params[name]!), tol.rtol, tol.atol);
      }
      if (named.emotion) {
        await expectClose(`step ${t}, emotion`, await valuesOf(fused.signals.emotion!), await valuesOf(composed.signals.emotion!), tol.rtol, tol.atol);
        expect(await valuesOf(fused.signals.calm!), `step ${t}, calm`).toEqual(await valuesOf(composed.signals.calm!));
      }
    }
    const a = await stateSnapshot(fused.state);
    const e = await stateSnapshot(composed.state);
    expect([...a.keys()]).toEqual([...e.keys()]);
    for (const [p, expected] of e) await expectClose(`final state ${p}`, a.get(p)!, expected, tol.rtol, tol.atol);
  } finally {
    fused.dispose();
    composed.dispose();
    tf.dispose(Object.values(init));
  }
}

/** A state's leaves as plain arrays (tensors read back), to restore anywhere. */
async function saveState(state: StateValue): Promise<Map<string, { shape: number[]; dtype: tf.DataType; values: number[] } | number | boolean | string>> {
  const out = new Map<string, { shape: number[]; dtype: tf.DataType; values: number[] } | number | boolean | string>();
  for (const leaf of flattenState(state)) {
    const v = leaf.value;
    out.set(leaf.path, typeof v === 'object' ? { shape: v.shape, dtype: v.dtype, values: await valuesOf(v) } : v);
  }
  return out;
}

function restoreState<S>(template: S, saved: Awaited<ReturnType<typeof saveState>>): S {
  const leaves = new Map<string, StateLeaf['value']>();
  for (const [p, v] of saved) leaves.set(p, typeof v === 'object' ? tf.tensor(v.values, v.shape, v.dtype) : v);
  return unflattenState(template, leaves);
}

/**
 * The conformance suite of a fusion target: every check the project asks of a backend,
 * written once. A backend's test file calls it with its target:
 *
 * ```ts
 * describeConformance({ name: 'typed-array on cpu', backend: 'cpu', register: registerCpuKernels, inPlace: true });
 * ```
 */
export function describeConformance(target: ConformanceTarget): void {
  const tol = target.tolerance ?? { rtol: 1e-4, atol: 1e-6 };
  const steps = target.steps ?? 40;
  describe(`fusion conformance: ${target.name}`, () => {
    let reason: string | undefined;
    let unregister: () => void = () => {};
    let runs = 0;
    let previousBackend = '';
    beforeAll(async () => {
      previousBackend = tf.getBackend();
      reason = target.prepare ? await target.prepare() : undefined;
      if (reason !== undefined) {
        console.warn(`fusion conformance '${target.name}' skipped: ${reason}`);
        return;
      }
      await tf.setBackend(target.backend);
      unregister = target.register();
      const registered = findFusionTarget(target.backend);
      if (registered === undefined) throw new Error(`register() put no fusion target on '${target.backend}'`);
      // count the steps the target runs
      const counted: FusionTarget = { ...registered, run: (step, options) => (runs++, registered.run(step, options)) };
      unregister = ((inner, outer) => () => (outer(), inner()))(unregister, registerFusionTarget(target.backend, counted));
    });
    afterAll(async () => {
      unregister();
      if (previousBackend) await tf.setBackend(previousBackend);
    });
    const ready = (ctx: TestContext) => {
      if (reason !== undefined) ctx.skip(reason);
    };

    describe.each(GOLDEN_SUITES.map((suite) => [suite]))('golden trajectories (every case of ../shared/golden/%s, both paths)', (suite) => {
      const found = findGoldenDir(repoRoot, suite);
      const cases = 'dir' in found ? listCaseFiles(found.dir).map(loadCase) : [];
      it('finds the recordings', (ctx) => {
        if ('reason' in found) ctx.skip(found.reason);
        expect(cases.length).toBeGreaterThanOrEqual(10);
      });
      for (const loaded of cases) {
        const label = 'golden' in loaded ? loaded.golden.case : path.basename(loaded.file);
        it(`${label}: every step fused, and composed, matches the reference`, async (ctx) => {
          ready(ctx);
          if (!('golden' in loaded)) throw new Error(`malformed: ${loaded.error}`);
          const golden = loaded.golden;
          const transform = transformFor(golden);
          const before = tf.memory().numTensors;
          const runsBefore = runs;
          const fused = await runCase(golden, { transform });
          expect(describeResult(fused)).toBe(`${golden.case}: pass`);
          expect([...fused.paths]).toEqual(['fused']);
          expect(runs - runsBefore).toBe(golden.steps.length);
          const composed = await runCase(golden, { transform, fused: false });
          expect(describeResult(composed)).toBe(`${golden.case}: pass`);
          expect([...composed.paths]).toEqual(['composed']);
          expect(tf.memory().numTensors).toBe(before);
        });
      }
    });

    // The adversarial cases that depend on the backend (issue 12), on this target: the rest
    // (options, checkpoints) are backend-independent and live in @emosens/tfjs's adversarial test.
    describe('adversarial inputs', () => {
      REFERENCE_OPTIMIZERS.forEach((named) => {
        it(`${named.name}: zero-size parameters next to normal ones train under the skip guard, fused and composed, no NaN left`, async (ctx) => {
          ready(ctx);
          for (const fused of [true, false]) {
            const params = { w: tf.tensor2d([[0.5, -0.5, 1, 2], [1, 1, -1, 0]]), e: tf.zeros([0]), f: tf.zeros([0, 5]) };
            const opt = statefulOptimizer(named.make(), params, { skipNonFinite: true, fused });
            tf.dispose(Object.values(params));
            const before = await valuesOf(opt.params.w!);
            try {
              for (let i = 0; i < 3; i++) {
                const grads = { w: tf.fill([2, 4], 0.3 - i * 0.1), e: tf.zeros([0]), f: tf.zeros([0, 5]) };
                opt.step(grads, { loss: 1 - i * 0.1 });
                tf.dispose(Object.values(grads));
                expect(opt.path).toBe(fused ? 'fused' : 'composed');
              }
              expect(await valuesOf(opt.skippedSteps!), `${fused ? 'fused' : 'composed'}: skipped steps`).toEqual([0]);
              expect(await valuesOf(opt.params.w!)).not.toEqual(before);
              for (const [p, values] of await stateSnapshot(opt.state)) {
                expect(values.some((v) => Number.isNaN(v)), `${fused ? 'fused' : 'composed'}: NaN in state ${p}`).toBe(false);
              }
            } finally {
              opt.dispose();
            }
          }
        });
        it(`${named.name}: a NaN loss under the 'apply' policy gives the same weights fused and composed`, async (ctx) => {
          ready(ctx);
          const run = async (fused: boolean) => {
            const params = { w: tf.tensor1d([1, -1, 0.5]) };
            const opt = statefulOptimizer(named.make(), params, { fused });
            tf.dispose(Object.values(params));
            try {
              for (let i = 0; i < 3; i++) {
                const g = { w: tf.tensor1d([0.1, -0.2, 0.3]) };
                opt.step(g, { loss: i === 1 ? Number.NaN : 1 - i * 0.1 });
                tf.dispose(Object.values(g));
              }
              return await valuesOf(opt.params.w!);
            } finally {
              opt.dispose();
            }
          };
          const fused = await run(true);
          const composed = await run(false);
          fused.forEach((v, i) => {
            if (Number.isNaN(composed[i]!)) expect(v, `w[${i}]`).toBeNaN();
            else expect(Math.abs(v - composed[i]!), `w[${i}]`).toBeLessThanOrEqual(tol.atol + tol.rtol * Math.abs(composed[i]!));
          });
        });
      });
      it('a disposed gradient, a disposed parameter and step() after dispose() give DISPOSED on the fused path, changing nothing', async (ctx) => {
        ready(ctx);
        const code = (fn: () => unknown): string | undefined => {
          try {
            fn();
          } catch (error) {
            return error instanceof EmosensError ? error.code : String(error);
          }
          return undefined;
        };
        const make = REFERENCE_OPTIMIZERS.find((n) => n.name === 'adam')!.make;
        const a = statefulOptimizer(make(), { w: tf.tensor1d([1, 2]) });
        const gone = tf.tensor1d([1, 1]);
        gone.dispose();
        expect(code(() => a.step({ w: gone }))).toBe('DISPOSED');
        expect(await valuesOf(a.params.w!)).toEqual([1, 2]);
        a.dispose();
        const w = tf.variable(tf.tensor1d([1, 2]));
        const b = statefulOptimizer(make(), { w });
        w.dispose();
        const g = tf.tensor1d([1, 1]);
        expect(code(() => b.step({ w: g }))).toBe('DISPOSED');
        b.dispose();
        const c = statefulOptimizer(make(), { w: tf.tensor1d([1, 2]) });
        c.dispose();
        expect(code(() => c.step({ w: g }))).toBe('DISPOSED');
        g.dispose();
      });
    });

    describe('fused == composed', () => {
      REFERENCE_OPTIMIZERS.forEach((named, k) => {
        it(`${named.name}: ${steps} steps on parameters of rank 0 to 5, [1] and zero-size`, async (ctx) => {
          ready(ctx);
          await compareTwins(named, 1000 + k, steps, tol, true);
        });
      });
      REFERENCE_OPTIMIZERS.forEach((named, k) => {
        it(`${named.name}: a finite gradient of 1e30 (second moments overflow to Infinity) moves the weights as composed does`, async (ctx) => {
          ready(ctx);
          await compareTwins(named, 1500 + k, 6, tol, false, 2);
        });
      });
      for (let k = 0; k < 14; k++) {
        const named = randomChain(seeded(7000 + k));
        it(`random chain ${k}: ${named.name}`, async (ctx) => {
          ready(ctx);
          expect(explainFusion(named.make(), target.backend)).toEqual({ fused: true, target: findFusionTarget(target.backend)!.name });
          await compareTwins(named, 2000 + k, Math.min(steps, 20), tol, true);
        });
      }
      WRAPPER_CHAINS.forEach((named, k) => {
        it(`wrapper ${k}: ${named.name}`, async (ctx) => {
          ready(ctx);
          expect(explainFusion(named.make(), target.backend)).toEqual({ fused: true, target: findFusionTarget(target.backend)!.name });
          await compareTwins(named, 3000 + k, Math.min(steps, 20), tol, true);
        });
      });
      it('applyIfFinite: a NaN gradient gives zero updates and keeps the inner state, as composed does', async (ctx) => {
        ready(ctx);
        const make = GUARDED_BY_APPLY_IF_FINITE.make;
        const rand = seeded(3100);
        const shapes = shapesFor(rand, true);
        const init = randomParams(rand, shapes);
        const fused = statefulOptimizer(make(), init);
        const composed = statefulOptimizer(make(), init, { fused: false });
        try {
          let previous: number[] = [];
          for (let t = 0; t < 6; t++) {
            const grads = randomGrads(rand, shapes);
            if (t === 2 || t === 4) {
              const values = await valuesOf(grads.p2!);
              values[1] = t === 2 ? NaN : -Infinity;
              tf.dispose(grads.p2!);
              grads.p2 = tf.tensor(values, shapes[2]);
            }
            fused.step(grads);
            composed.step(grads);
            tf.dispose(Object.values(grads));
            expect(fused.path, `step ${t}: the fused twin's path`).toBe('fused');
            const now = await valuesOf(fused.params.p3!);
            if (t === 2 || t === 4) expect(now, `step ${t}: skipped`).toEqual(previous);
            previous = now;
            for (const name of Object.keys(init)) {
              await expectClose(`step ${t}, ${name}`, await valuesOf(fused.params[name]!), await valuesOf(composed.params[name]!), tol.rtol, tol.atol);
            }
          }
          const a = await stateSnapshot(fused.state);
          const e = await stateSnapshot(composed.state);
          for (const [p, expected] of e) await expectClose(`final state ${p}`, a.get(p)!, expected, tol.rtol, tol.atol);
          expect(await valuesOf((fused.state as { totalNotFinite: tf.Tensor }).totalNotFinite)).toEqual([2]);
        } finally {
          fused.dispose();
          composed.dispose();
          tf.dispose(Object.values(init));
        }
      });
    });

    describe('storage shared between parameters', () => {
      it('two parameters on one storage: the first step declines (naming them) and runs composed, later steps fuse, and both paths agree', async (ctx) => {
        ready(ctx);
        const named = REFERENCE_OPTIMIZERS[0]!;
        const source = tf.tensor([0.5, -1, 2]);
        const make = (fused: boolean) => {
          const a = tf.variable(source);
          const b = tf.variable(source); // both share the source's storage
          return { opt: statefulOptimizer(named.make(), { a, b }, { fused }), vars: [a, b] };
        };
        const fused = make(true);
        const composed = make(false);
        const g = { a: tf.tensor([1, 2, 3]), b: tf.tensor([-1, 0.5, 0]) };
        expect(explainFusion(fused.opt.transform, target.backend, { params: fused.opt.params, state: fused.opt.state, grads: g, loss: 1 })).toEqual({
          fused: false,
          reason: "parameter 'b' shares its storage with parameter 'a'",
        });
        const paths: string[] = [];
        for (let t = 0; t < 4; t++) {
          fused.opt.step(g, { loss: 1 + t });
          composed.opt.step(g, { loss: 1 + t });
          paths.push(fused.opt.path!);
        }
        expect(paths).toEqual(['composed', 'fused', 'fused', 'fused']);
        for (const n of ['a', 'b']) await expectClose(`param ${n}`, await valuesOf(fused.opt.params[n]!), await valuesOf(composed.opt.params[n]!), tol.rtol, tol.atol);
        expect(await valuesOf(source)).toEqual([0.5, -1, 2]); // the source is never written
        for (const x of [fused, composed]) {
          x.opt.dispose();
          tf.dispose(x.vars);
        }
        tf.dispose([source, ...Object.values(g)]);
      });
    });

    describe('in place, no growth, no readback', () => {
      for (const named of [REFERENCE_OPTIMIZERS[1]!, REFERENCE_OPTIMIZERS[3]!, randomChain(seeded(7003))]) {
        it(`${named.name}: 100 steps keep numTensors and numBytes${target.inPlace ? ' and every storage' : ''}, and read nothing back`, async (ctx) => {
          ready(ctx);
          const rand = seeded(5);
          const shapes = [[6, 5], [5], []];
          const init = randomParams(rand, shapes);
          const opt = statefulOptimizer(named.make(), init, { skipNonFinite: true });
          const grads = randomGrads(rand, shapes);
          const loss = tf.scalar(1.5);
          const backend = tf.backend() as unknown as Record<string, (...args: unknown[]) => unknown>;
          const methods = target.readMethods ?? ['read', 'readSync'];
          const spies = methods.filter((m) => typeof backend[m] === 'function').map((m) => vi.spyOn(backend, m as never));
          try {
            opt.step(grads, { loss });
            opt.step(grads, { loss });
            const tensors = tf.memory().numTensors;
            const bytes = tf.memory().numBytes;
            const storage = () => [...Object.values(opt.params), ...flattenState(opt.state).map((l) => l.value)].map((v) => (typeof v === 'object' ? v.dataId : v));
            const ids = storage();
            for (let t = 0; t < 100; t++) opt.step(grads, { loss });
            expect(opt.path).toBe('fused');
            expect(tf.memory().numTensors).toBe(tensors);
            expect(tf.memory().numBytes).toBe(bytes);
            if (target.inPlace) expect(storage()).toEqual(ids);
            for (const spy of spies) expect(spy, `backend.${spy.getMockName()} during steps`).not.toHaveBeenCalled();
          } finally {
            spies.forEach((s) => s.mockRestore());
            opt.dispose();
            tf.dispose([...Object.values(init), ...Object.values(grads), loss]);
          }
        });
      }
    });

    describe('non-finite steps are skipped bit for bit', () => {
      REFERENCE_OPTIMIZERS.forEach((named, k) => {
        it(`${named.name}: a NaN gradient and an Inf loss change nothing, and later steps match a twin`, async (ctx) => {
          ready(ctx);
          const rand = seeded(300 + k);
          const shapes = [[4, 3], [3], []];
          const init = randomParams(rand, shapes);
          const opt = statefulOptimizer(named.make(), init, { skipNonFinite: true });
          const twin = statefulOptimizer(named.make(), init, { skipNonFinite: true });
          const stream = Array.from({ length: 8 }, () => randomGrads(rand, shapes));
          const bad = randomGrads(rand, shapes);
          const nanGrad = { ...bad, p1: tf.tensor1d([1, NaN, 2]) };
          try {
            for (let t = 0; t < 4; t++) {
              opt.step(stream[t]!, { loss: 2 - 0.1 * t });
              twin.step(stream[t]!, { loss: 2 - 0.1 * t });
            }
            const paramsBefore = await Promise.all(Object.values(opt.params).map(async (p) => bits(await valuesOf(p))));
            const stateBefore = await saveState(opt.state);
            opt.step(nanGrad, { loss: 1 });
            expect(opt.path).toBe('fused');
            opt.step(bad, { loss: Infinity });
            expect(await valuesOf(opt.skippedSteps!)).toEqual([2]);
            const paramsAfter = await Promise.all(Object.values(opt.params).map(async (p) => bits(await valuesOf(p))));
            expect(paramsAfter).toEqual(paramsBefore);
            const stateAfter = await saveState(opt.state);
            for (const [p, v] of stateBefore) {
              const w = stateAfter.get(p)!;
              if (typeof v === 'object') expect(bits((w as typeof v).values), p).toEqual(bits(v.values));
              else expect(w, p).toEqual(v);
            }
            for (let t = 4; t < 8; t++) {
              opt.step(stream[t]!, { loss: 2 - 0.1 * t });
              twin.step(stream[t]!, { loss: 2 - 0.1 * t });
            }
            for (const name of Object.keys(init)) expect(bits(await valuesOf(opt.params[name]!)), name).toEqual(bits(await valuesOf(twin.params[name]!)));
          } finally {
            opt.dispose();
            twin.dispose();
            tf.dispose([...Object.values(init), ...stream.flatMap((g) => Object.values(g)), ...Object.values(bad), nanGrad.p1]);
          }
        });
      });
    });

    describe('checkpoints cross paths and backends', () => {
      for (const named of [REFERENCE_OPTIMIZERS[0]!, REFERENCE_OPTIMIZERS[3]!, REFERENCE_OPTIMIZERS[5]!, randomChain(seeded(7001))]) {
        it(`${named.name}: fused state resumes composed here and on cpu; composed state resumes fused`, async (ctx) => {
          ready(ctx);
          const rand = seeded(77);
          const shapes = [[5, 4], [4]];
          const init = randomParams(rand, shapes);
          // Gradients as values, made into tensors on the backend that runs the step (a tensor
          // of one backend cannot always be read synchronously by another: webgpu in Node).
          const stream = Array.from({ length: 10 }, () => shapes.map((s) => randomGradValues(rand, tf.util.sizeFromShape(s))));
          const losses = Array.from({ length: 10 }, (_, t) => 1 + Math.sin(t));
          const run = async (opt: StatefulOptimizer, from: number, to: number) => {
            for (let t = from; t < to; t++) {
              const grads: Params = {};
              shapes.forEach((s, i) => (grads[`p${i}`] = tf.tensor(stream[t]![i]!, s)));
              opt.step(grads, { loss: losses[t]! });
              tf.dispose(Object.values(grads));
            }
          };
          const uninterrupted = statefulOptimizer(named.make(), init);
          await run(uninterrupted, 0, 10);
          const first = statefulOptimizer(named.make(), init);
          await run(first, 0, 5);
          const saved = await saveState(first.state);
          const savedParams = await Promise.all(Object.values(first.params).map((p) => valuesOf(p)));
          const resume = async (fused: boolean) => {
            const params: Params = {};
            Object.keys(init).forEach((n, i) => (params[n] = tf.tensor(savedParams[i]!, init[n]!.shape)));
            const opt = statefulOptimizer(named.make(), params, { fused });
            opt.setState(restoreState(opt.state, saved));
            await run(opt, 5, 10);
            expect(opt.path).toBe(fused ? 'fused' : 'composed');
            const out = await Promise.all(Object.values(opt.params).map((p) => valuesOf(p)));
            opt.dispose();
            tf.dispose(Object.values(params));
            return out;
          };
          const expected = await Promise.all(Object.values(uninterrupted.params).map((p) => valuesOf(p)));
          const viaComposed = await resume(false);
          const viaFused = await resume(true);
          for (let i = 0; i < expected.length; i++) {
            await expectClose(`resumed composed, param ${i}`, viaComposed[i]!, expected[i]!, tol.rtol, tol.atol);
            await expectClose(`resumed fused, param ${i}`, viaFused[i]!, expected[i]!, tol.rtol, tol.atol);
          }
          // across backends: the same checkpoint resumed composed on cpu
          if (target.backend !== 'cpu') {
            await tf.setBackend('cpu');
            try {
              const onCpu = await resume(false);
              for (let i = 0; i < expected.length; i++) await expectClose(`resumed on cpu, param ${i}`, onCpu[i]!, expected[i]!, tol.rtol, tol.atol);
            } finally {
              await tf.setBackend(target.backend);
            }
          }
          uninterrupted.dispose();
          first.dispose();
          tf.dispose(Object.values(init));
        });
      }
    });
  });
}
