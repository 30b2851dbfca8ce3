import * as tf from '@tensorflow/tfjs-core';
import { chain, flattenState, statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { addDecayedWeights, cautious, clipByGlobalNorm, scaleByLearningRate, warmupCosineDecaySchedule } from '@emosens/modifiers';
import { scaleByAdam } from '@emosens/moments';
import { adafactor, adagrad, adamax, adamw, emoAiry, emoCats, emoSens, lamb, lion, nadam, radam, rmsprop, sgd } from '@emosens/optimizers';
import type { BenchBackend } from './backends.js';
import { measureFloor } from './floor.js';
import { timeSteps, type TimingOptions } from './timing.js';

/** One measured (backend, optimizer, path, params): what `--json` writes. */
export interface BenchRecord {
  readonly backend: string;
  /**
   * `emoSens`, `emoAiry`, `emoCats`, `adamw`, `customChain`, a torch.optim peer of
   * {@link TORCH_OPTIMIZERS} (`sgd`, `sgd-momentum`, `rmsprop`, ...), or a tfjs optimizer
   * (`tf.train.adam`, `tf.train.sgd`, ...).
   */
  readonly optimizer: string;
  /** `fused` or `composed` for the emosens optimizers; `tfjs` for tfjs's own. */
  readonly path: 'fused' | 'composed' | 'tfjs';
  /** For a torch.optim peer: the tfjs optimizer measured beside it, if tfjs has one (e.g. `tf.train.rmsprop`). */
  readonly tfjsPeer?: string;
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

/** A ready-made torch.optim optimizer and the tfjs optimizer of the same name, if any. */
export interface TorchCase {
  readonly make: () => GradientTransformation<StateValue>;
  /** tfjs's optimizer of the same name, with the same hyperparameters where it has them. */
  readonly tfjs?: { readonly name: string; readonly make: () => tf.Optimizer };
}

/**
 * The torch.optim peers (and Lion), each at its defaults, measured on both paths like the
 * Emo optimizers and next to tfjs's optimizer of the same name where tfjs has one. The
 * tfjs peers do the same amount of work per entry, but not always the same arithmetic
 * (see the comments); the records compare speed, not results.
 */
export const TORCH_OPTIMIZERS: Readonly<Record<string, TorchCase>> = {
  sgd: { make: () => sgd({ lr: 1e-3 }), tfjs: { name: 'tf.train.sgd', make: () => tf.train.sgd(1e-3) } },
  // torch SGD with momentum and no dampening is what tf.train.momentum computes.
  'sgd-momentum': {
    make: () => sgd({ lr: 1e-3, momentum: 0.9 }),
    tfjs: { name: 'tf.train.momentum', make: () => tf.train.momentum(1e-3, 0.9) },
  },
  // tfjs's RMSprop puts eps inside the root, g / sqrt(v + eps); torch's outside it,
  // g / (sqrt(v) + eps). torch's alpha 0.99 is tfjs's `decay`.
  rmsprop: { make: () => rmsprop(), tfjs: { name: 'tf.train.rmsprop', make: () => tf.train.rmsprop(1e-2, 0.99, 0, 1e-8) } },
  // tfjs's Adagrad divides by sqrt(sum + backend eps) (torch: sqrt(sum) + 1e-10).
  adagrad: { make: () => adagrad(), tfjs: { name: 'tf.train.adagrad', make: () => tf.train.adagrad(1e-2, 0) } },
  // tfjs's Adamax divides by max(b2 u, |g|) + eps (torch keeps u = max(b2 u, |g| + eps)).
  adamax: { make: () => adamax(), tfjs: { name: 'tf.train.adamax', make: () => tf.train.adamax(2e-3, 0.9, 0.999, 1e-8) } },
  // tfjs has no NAdam, RAdam or Lion.
  nadam: { make: () => nadam() },
  radam: { make: () => radam() },
  lion: { make: () => lion() },
};

/**
 * optax's Adafactor and LAMB, at optax's defaults (Adafactor's 1M matrix `[999, 1000]` is
 * factored); tfjs has neither.
 */
export const OPTAX_OPTIMIZERS: Readonly<Record<string, () => GradientTransformation<StateValue>>> = {
  adafactor: () => adafactor(),
  lamb: () => lamb(),
};

/** Every emosens optimizer the bench runs, fused and composed. */
const ALL_OPTIMIZERS: Readonly<Record<string, () => GradientTransformation<StateValue>>> = {
  ...EMO_OPTIMIZERS,
  ...Object.fromEntries(Object.entries(TORCH_OPTIMIZERS).map(([name, c]) => [name, c.make])),
  ...OPTAX_OPTIMIZERS,
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
  const opt = statefulOptimizer(ALL_OPTIMIZERS[optimizer]!(), params, { fused: path === 'fused' });
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

/** Measures one of tfjs's own optimizers (`tf.train.adam`, a torch peer's) on the same parameters. */
async function measureTfjs(
  backend: BenchBackend,
  make: () => tf.Optimizer,
  n: number,
  timing: TimingOptions,
): Promise<{ msPerStep: number; stateBytes: number; steps: number }> {
  const shapes = paramShapes(n);
  const vars = Object.entries(shapes).map(([k, s]) => randomVariable(s, 0.1, `bench_${k}_${Math.random().toString(36).slice(2)}`));
  const grads = vars.map((v) => ({ name: v.name, tensor: randomTensor(v.shape, 0.01) }));
  const bytesBefore = tf.memory().numBytes;
  const opt = make();
  try {
    const { median, samples } = await timeSteps(async () => {
      opt.applyGradients(grads);
      await backend.sync(vars[0]!);
    }, timing);
    let stateBytes: number;
    try {
      const weights = await opt.getWeights();
      stateBytes = weights.reduce((sum, w) => sum + bytesOf(w.tensor), 0);
      tf.dispose(weights.filter((w) => w.name === 'iter').map((w) => w.tensor)); // a new scalar made by getWeights
    } catch {
      // tf.train.adamax has no getWeights (it throws 'not implemented'): count what its steps allocated instead.
      stateBytes = tf.memory().numBytes - bytesBefore;
    }
    return { msPerStep: median, stateBytes, steps: samples.length };
  } finally {
    opt.dispose();
    // tfjs 4.22's MomentumOptimizer.dispose() overrides SGDOptimizer's and forgets the
    // learning-rate scalar `c` that SGDOptimizer's constructor kept: release it here.
    // (By class name: tfjs optimizers' `instanceof` accepts any optimizer.)
    if (opt.getClassName() === 'Momentum') (opt as unknown as { c: tf.Tensor }).c.dispose();
    tf.dispose([...vars, ...grads.map((g) => g.tensor)]);
  }
}

/** One case of a run: an emosens optimizer on one path, or a tfjs optimizer. */
interface Case {
  readonly optimizer: string;
  readonly path: BenchRecord['path'];
  readonly tfjs?: () => tf.Optimizer;
  readonly tfjsPeer?: string;
}

/** The cases of one (backend, size), in report order. */
export function benchCases(): Case[] {
  const both = (optimizer: string, tfjsPeer?: string): Case[] =>
    (['fused', 'composed'] as const).map((path) => ({ optimizer, path, ...(tfjsPeer === undefined ? {} : { tfjsPeer }) }));
  return [
    ...Object.keys(EMO_OPTIMIZERS).flatMap((o) => both(o)),
    { optimizer: 'tf.train.adam', path: 'tfjs', tfjs: () => tf.train.adam(1e-3) },
    ...Object.entries(TORCH_OPTIMIZERS).flatMap(([o, c]): Case[] => [
      ...both(o, c.tfjs?.name),
      ...(c.tfjs ? [{ optimizer: c.tfjs.name, path: 'tfjs' as const, tfjs: c.tfjs.make }] : []),
    ]),
    ...Object.keys(OPTAX_OPTIMIZERS).flatMap((o) => both(o)),
  ];
}

/**
 * Runs the benchmark: per backend that can run here, per size, the memory floor, then
 * EmoSens, EmoAiry, EmoCats, AdamW and a custom chain on the fused and the composed path,
 * tf.train.adam, each torch.optim peer (fused, composed) next to tfjs's optimizer of
 * the same name, and optax's Adafactor and LAMB.
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
      for (const { optimizer, path, tfjs, tfjsPeer } of benchCases()) {
        log(`${backend.name} ${label(n)}: ${optimizer} ${path}...`);
        const r = tfjs !== undefined ? await measureTfjs(backend, tfjs, n, timing) : await measureEmo(backend, optimizer, path as 'fused' | 'composed', n, timing);
        log(`  ${r.msPerStep.toFixed(2)} ms/step (median of ${r.steps})`);
        records.push({
          backend: backend.name,
          optimizer,
          path,
          ...(tfjsPeer === undefined ? {} : { tfjsPeer }),
          params: n,
          msPerStep: r.msPerStep,
          stateBytes: r.stateBytes,
          floorMs,
        });
      }
    }
  }
  return { records, skipped, details, floors };
}

export { label as sizeLabel };
