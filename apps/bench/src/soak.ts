import * as tf from '@tensorflow/tfjs-core';
import { statefulOptimizer, type GradientTransformation, type StateValue } from '@emosens/core';
import { emoAiry, emoAiryV3, emoCats, emoCatsV3, emoSens, emoSensV3, emoTion, emoVoid } from '@emosens/optimizers';
import type { BenchBackend } from './backends.js';

/** The Emo optimizers the soak runs, v2.0 and v3.9.1, at their defaults. */
export const SOAK_OPTIMIZERS: Readonly<Record<string, () => GradientTransformation<StateValue>>> = {
  emoSens: () => emoSens(),
  emoAiry: () => emoAiry(),
  emoCats: () => emoCats(),
  emoSensV3: () => emoSensV3(),
  emoAiryV3: () => emoAiryV3(),
  emoCatsV3: () => emoCatsV3(),
  emoTion: () => emoTion(),
  emoVoid: () => emoVoid(),
};

/** The soak's default length. */
export const SOAK_STEPS = 10_000;

/** One soak run: an optimizer on a path, its tensor count and the process's RSS at the start and the end. */
export interface SoakRecord {
  readonly backend: string;
  readonly optimizer: string;
  /** The path asked for; `ranFused` says how many steps took it. */
  readonly path: 'fused' | 'composed';
  readonly steps: number;
  /** Steps that ran on the fused path (all of them when it fused, 0 on the composed path). */
  readonly fusedSteps: number;
  /** `tf.memory().numTensors` after the first step (its signals and counters exist from then on) and after the last step. */
  readonly tensorsStart: number;
  readonly tensorsEnd: number;
  /** `process.memoryUsage().rss` in MB at the same two points (after a GC when `global.gc` is exposed). */
  readonly rssStartMb: number;
  readonly rssEndMb: number;
  /** The loss before the first step and after the last. */
  readonly lossStart: number;
  readonly lossEnd: number;
  /** Wall-clock ms per step after the first (reported, never asserted). */
  readonly msPerStep: number;
}

export interface SoakOptions {
  readonly backends: readonly BenchBackend[];
  /** Steps per run (default {@link SOAK_STEPS}). */
  readonly steps?: number;
  /** Optimizer names of {@link SOAK_OPTIMIZERS} (default all). */
  readonly optimizers?: readonly string[];
  readonly log?: (line: string) => void;
}

export interface SoakResult {
  readonly records: SoakRecord[];
  readonly skipped: { readonly backend: string; readonly reason: string }[];
}

function rssMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / 2 ** 20;
}

/**
 * The soak problem: a [32, 16] matrix (so EmoAiry runs its factored branch) and a [16]
 * vector pulled toward a fixed target, loss `mean((p - t)^2)` summed over both, with a
 * gradient that wobbles by a deterministic per-step factor so the loss history (and the
 * emotion scalar) keeps moving over 10,000 steps.
 */
function soakProblem(): { params: Record<string, tf.Variable>; targets: Record<string, tf.Tensor> } {
  const shapes: Record<string, number[]> = { w: [32, 16], b: [16] };
  const params: Record<string, tf.Variable> = {};
  const targets: Record<string, tf.Tensor> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const initial = tf.tensor(Array.from({ length: size }, (_, i) => Math.sin(i) * 0.5), shape);
    params[name] = tf.variable(initial);
    initial.dispose(); // the variable holds its own reference
    targets[name] = tf.tensor(Array.from({ length: size }, (_, i) => Math.cos(3 * i) * 0.1), shape);
  }
  return { params, targets };
}

/** Runs one optimizer for `steps` steps on one path of the active backend. */
async function soakOne(backend: BenchBackend, optimizer: string, path: 'fused' | 'composed', steps: number): Promise<SoakRecord> {
  const { params, targets } = soakProblem();
  const unregister = path === 'fused' ? backend.registerKernels() : undefined;
  const opt = statefulOptimizer(SOAK_OPTIMIZERS[optimizer]!(), params, { fused: path === 'fused' });
  const lossOf = () => tf.tidy(() => tf.addN(Object.keys(params).map((k) => tf.mean(tf.square(tf.sub(opt.params[k]!, targets[k]!))))) as tf.Scalar);
  try {
    const first = lossOf();
    const lossStart = (await first.data())[0]!;
    first.dispose();
    let fusedSteps = 0;
    let tensorsStart = 0;
    let rssStartMb = 0;
    let started = 0;
    for (let i = 0; i < steps; i++) {
      if (i === 1 || steps === 1) {
        // The start is measured after the first step: its signals and counters exist from then on.
        tensorsStart = tf.memory().numTensors;
        rssStartMb = rssMb();
        started = performance.now();
      }
      const wobble = 1 + 0.5 * Math.sin(i / 7);
      const grads = tf.tidy(() =>
        Object.fromEntries(Object.keys(params).map((k) => [k, tf.mul(tf.sub(opt.params[k]!, targets[k]!), (2 / params[k]!.size) * wobble)])),
      );
      const loss = lossOf();
      opt.step(grads, { loss });
      if (opt.path === 'fused') fusedSteps++;
      tf.dispose([loss, ...Object.values(grads)]);
      if (i % 1000 === 999) await backend.sync(params.w!);
    }
    await backend.sync(params.w!);
    const msPerStep = (performance.now() - started) / Math.max(1, steps - 1);
    const tensorsEnd = tf.memory().numTensors;
    const rssEndMb = rssMb();
    const last = lossOf();
    const lossEnd = (await last.data())[0]!;
    last.dispose();
    return { backend: backend.name, optimizer, path, steps, fusedSteps, tensorsStart, tensorsEnd, rssStartMb, rssEndMb, lossStart, lossEnd, msPerStep };
  } finally {
    opt.dispose();
    unregister?.();
    tf.dispose([...Object.values(params), ...Object.values(targets)]);
  }
}

/**
 * The soak benchmark (`pnpm bench --soak`): every Emo optimizer for `steps` steps (10,000 by
 * default), fused and composed, on each backend; reports the tensor count and the RSS at the
 * start and the end of each run. Nothing here is asserted: a tensor count that grows or an
 * RSS that climbs is for a reader of the report to see.
 */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const steps = options.steps ?? SOAK_STEPS;
  const names = options.optimizers ?? Object.keys(SOAK_OPTIMIZERS);
  const records: SoakRecord[] = [];
  const skipped: SoakResult['skipped'] = [];
  for (const backend of options.backends) {
    const available = await backend.activate();
    if (!available.ok) {
      skipped.push({ backend: backend.name, reason: available.reason });
      options.log?.(`${backend.name}: skipped (${available.reason})`);
      continue;
    }
    for (const optimizer of names) {
      if (!(optimizer in SOAK_OPTIMIZERS)) throw new Error(`soak: unknown optimizer '${optimizer}'; known: ${Object.keys(SOAK_OPTIMIZERS).join(', ')}`);
      for (const path of ['fused', 'composed'] as const) {
        const r = await soakOne(backend, optimizer, path, steps);
        records.push(r);
        options.log?.(formatSoakRecord(r));
      }
    }
  }
  return { records, skipped };
}

/** One line of the soak report. */
export function formatSoakRecord(r: SoakRecord): string {
  const ran = r.path === 'fused' && r.fusedSteps < r.steps ? ` (fused ${r.fusedSteps}/${r.steps})` : '';
  return (
    `${r.backend.padEnd(5)} ${r.optimizer.padEnd(10)} ${r.path.padEnd(8)}${ran} ${r.steps} steps: ` +
    `tensors ${r.tensorsStart} -> ${r.tensorsEnd}, RSS ${r.rssStartMb.toFixed(0)} -> ${r.rssEndMb.toFixed(0)} MB, ` +
    `loss ${r.lossStart.toExponential(2)} -> ${r.lossEnd.toExponential(2)}, ${r.msPerStep.toFixed(3)} ms/step`
  );
}

/** The soak report: a header and one line per run, then the skipped backends. */
export function formatSoakReport(result: SoakResult): string {
  const lines = ['Soak: tensor count and RSS at the start and the end of each run', ...result.records.map(formatSoakRecord)];
  for (const s of result.skipped) lines.push(`${s.backend}: skipped (${s.reason})`);
  return lines.join('\n');
}
