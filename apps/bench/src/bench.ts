import * as tf from '@tensorflow/tfjs-core';
import { chain, flattenState, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { addDecayedWeights, cautious, clipByGlobalNorm, scaleByLearningRate, warmupCosineDecaySchedule } from '@emosens/modifiers';
import { scaleByAdam } from '@emosens/moments';
import { adamw, emoAiry, emoCats, emoSens } from '@emosens/optimizers';
import type { BenchBackend } from './backends.js';
import { measureFloor } from './floor.js';
import { timeSteps, type TimingOptions } from './timing.js';

/** One measured (backend, optimizer, path, params): what `--json` writes. */
export interface BenchRecord {
  readonly backend: string;
  /** `emoSens`, `emoAiry`, `emoCats`, `adamw`, `customChain`, or `tf.train.adam`. */
  readonly optimizer: string;
  /** `fused` or `composed` for the emosens optimizers; `tfjs` for tf.train.adam. */
  readonly path: 'fused' | 'composed' | 'tfjs';
  readonly params: number;
  /** Median ms per step. */
  readonly msPerStep: number;
  /** Bytes of the optimizer state (every state tensor). */
  readonly stateBytes: number;
  /** The memory floor for this many parameters, measured in the same run (ms). */
  readonly floorMs: number;
}

/** A backend that was skipped, and why. */
export interface Skipped {
  readonly backend: string;
  readonly reason: string;
}

export interface BenchOptions {
  readonly backends: readonly BenchBackend[];
  readonly sizes: readonly number[];
  readonly quick: boolean;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

export interface BenchResult {
  readonly records: BenchRecord[];
  readonly skipped: Skipped[];
  /** What each measured backend ran on. */
  readonly details: Record<string, string>;
  /** How each measured backend's floor was measured (default {@link HOST_FLOOR}). */
  readonly floors?: Record<string, string>;
}

/** How the default floor is measured. */
export const HOST_FLOOR = 'a JavaScript pass over host memory';

/**
 * A chain a user would assemble, fused like any other: global-norm clipping, Cautious Adam,
 * decoupled decay and a warm-up cosine learning rate (a host value each step).
 */
export function customChain(): GradientTransformation<StateValue> {
  const lr = warmupCosineDecaySchedule({ initValue: 0, peakValue: 1e-3, warmupSteps: 10, decaySteps: 1000 });
  return chain(clipByGlobalNorm(1), cautious(scaleByAdam()), addDecayedWeights(0.01), scaleByLearningRate(lr)) as unknown as GradientTransformation<StateValue>;
}

/** The optimizers the bench measures on both paths. */
export const EMO_OPTIMIZERS: Readonly<Record<string, () => GradientTransformation<StateValue>>> = {
  emoSens: () => emoSens(),
  emoAiry: () => emoAiry(),
  emoCats: () => emoCats(),
  adamw: () => adamw(),
  customChain,
};

/**
 * The parameters of a run with `n` entries: a matrix `[rows, cols]` and a vector
 * `[n - rows * cols]` (cols about sqrt(n)), so EmoAiry exercises both its factored and
 * its dense path. 1M: `[999, 1000]` and `[1000]`.
 */
export function paramShapes(n: number): Record<string, number[]> {
  const cols = Math.max(1, Math.round(Math.sqrt(n)));
  const rows = Math.max(1, Math.floor((n - cols) / cols));
  return { w: [rows, cols], b: [n - rows * cols] };
}

function randomTensor(shape: number[], scale: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = (Math.random() * 2 - 1) * scale;
  return tf.tensor(values, shape);
}

/** A variable with random values (the initial tensor is released; the variable keeps its storage). */
function randomVariable(shape: number[], scale: number, name?: string): tf.Variable {
  const init = randomTensor(shape, scale);
  const v = tf.variable(init, true, name);
  init.dispose();
  return v;
}

function bytesOf(t: tf.Tensor): number {
  return t.size * (t.dtype === 'bool' ? 1 : 4);
}

/** The loss handed to step `t`: it moves, so the emotion scalar and the filter move too. */
const lossAt = (t: number) => 1 + 0.3 * Math.sin(t / 5);

function timingFor(n: number, quick: boolean): TimingOptions {
  if (quick) return { warmup: 1, budgetMs: 100, minSteps: 2, maxSteps: 5 };
  return n >= 5_000_000
    ? { warmup: 1, budgetMs: 3000, minSteps: 3, maxSteps: 30 }
    : { warmup: 2, budgetMs: 1500, minSteps: 5, maxSteps: 100 };
}

const label = (n: number) => (n >= 1e6 && n % 1e5 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 100 === 0 ? `${n / 1e3}k` : String(n));

/** Measures one emosens optimizer on one path. */
async function measureEmo(
  backend: BenchBackend,
  optimizer: string,
  path: 'fused' | 'composed',
  n: number,
  timing: TimingOptions,
): Promise<{ msPerStep: number; stateBytes: number; steps: number }> {
  const shapes = paramShapes(n);
  const params = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, randomVariable(s, 0.1)]));
  const grads = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, randomTensor(s, 0.01)]));
  const unregister = path === 'fused' ? backend.registerKernels() : undefined;
  const opt = statefulOptimizer(EMO_OPTIMIZERS[optimizer]!(), params, { fused: path === 'fused' });
  try {
    let t = 0;
    const { median, samples } = await timeSteps(async () => {
      opt.step(grads, { loss: lossAt(t++) });
      await backend.sync(params.w!);
    }, timing);
    if (opt.path !== path) throw new Error(`${backend.name} ${optimizer}: expected the ${path} path, but the step ran ${opt.path}.`);
    const stateBytes = flattenState(opt.state).reduce((sum, l) => sum + (typeof l.value === 'object' ? bytesOf(l.value) : 0), 0);
    return { msPerStep: median, stateBytes, steps: samples.length };
  } finally {
    opt.dispose();
    unregister?.();
    tf.dispose([...Object.values(params), ...Object.values(grads)]);
  }
}

/** Measures tfjs's own `tf.train.adam` on the same parameters. */
async function measureTfAdam(backend: BenchBackend, n: number, timing: TimingOptions): Promise<{ msPerStep: number; stateBytes: number; steps: number }> {
  const shapes = paramShapes(n);
  const vars = Object.entries(shapes).map(([k, s]) => randomVariable(s, 0.1, `bench_${k}_${Math.random().toString(36).slice(2)}`));
  const grads = vars.map((v) => ({ name: v.name, tensor: randomTensor(v.shape, 0.01) }));
  const opt = tf.train.adam(1e-3);
  try {
    const { median, samples } = await timeSteps(async () => {
      opt.applyGradients(grads);
      await backend.sync(vars[0]!);
    }, timing);
    const weights = await opt.getWeights();
    const stateBytes = weights.reduce((sum, w) => sum + bytesOf(w.tensor), 0);
    tf.dispose(weights.filter((w) => w.name === 'iter').map((w) => w.tensor)); // a new scalar made by getWeights
    return { msPerStep: median, stateBytes, steps: samples.length };
  } finally {
    opt.dispose();
    tf.dispose([...vars, ...grads.map((g) => g.tensor)]);
  }
}

/**
 * Runs the benchmark: per backend that can run here, per size, the memory floor, then
 * EmoSens, EmoAiry, EmoCats and AdamW on the fused and the composed path, and tf.train.adam.
 */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const log = options.log ?? (() => undefined);
  const records: BenchRecord[] = [];
  const skipped: Skipped[] = [];
  const details: Record<string, string> = {};
  const floors: Record<string, string> = {};
  for (const backend of options.backends) {
    const available = await backend.activate();
    if (!available.ok) {
      skipped.push({ backend: backend.name, reason: available.reason });
      log(`${backend.name}: skipped (${available.reason})`);
      continue;
    }
    details[backend.name] = available.detail;
    floors[backend.name] = backend.floor?.what ?? HOST_FLOOR;
    log(`${backend.name}: ${available.detail}`);
    for (const n of options.sizes) {
      const timing = timingFor(n, options.quick);
      const floorTiming = { ...timing, warmup: 3, maxSteps: Math.max(timing.maxSteps, 10) };
      const floorMs = backend.floor ? await backend.floor.measure(n, floorTiming) : await measureFloor(n, floorTiming);
      log(`${backend.name} ${label(n)}: floor (stream 7 float32 arrays, ${floors[backend.name]}) ${floorMs.toFixed(2)} ms`);
      const cases: [string, BenchRecord['path']][] = [
        ...Object.keys(EMO_OPTIMIZERS).flatMap((o) => [[o, 'fused'], [o, 'composed']] as [string, BenchRecord['path']][]),
        ['tf.train.adam', 'tfjs'],
      ];
      for (const [optimizer, path] of cases) {
        log(`${backend.name} ${label(n)}: ${optimizer} ${path}...`);
        const r = path === 'tfjs' ? await measureTfAdam(backend, n, timing) : await measureEmo(backend, optimizer, path, n, timing);
        log(`  ${r.msPerStep.toFixed(2)} ms/step (median of ${r.steps})`);
        records.push({ backend: backend.name, optimizer, path, params: n, msPerStep: r.msPerStep, stateBytes: r.stateBytes, floorMs });
      }
    }
  }
  return { records, skipped, details, floors };
}

export { label as sizeLabel };
