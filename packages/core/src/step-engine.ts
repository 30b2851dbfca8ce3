import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import { applyStep, type StepPath } from './apply-step.js';
import { EmosensError } from './errors.js';
import { allFinite, isAllFinite } from './finite-guard.js';
import { validateGradients } from './validate.js';
import { checkStateLayout, collectTensors, disposeReplaced, disposeState, isTensor } from './state-tree.js';
import type { GradientTransformation, Loss, SignalName, Signals, StateValue, Updates } from './types.js';

/**
 * What a step does with a NaN or Infinity in its loss or gradients:
 *
 * - `'apply'`: nothing special; the values flow into the weights (as in the reference).
 * - `'skip'`: the step changes nothing, decided on the device without a readback
 *   (`applyStep`'s `skipNonFinite`); exact for every tensor of the state (number leaves of
 *   a custom chain advance on the composed path).
 * - `'skipExact'`: one boolean read before the step; a bad step changes nothing at all.
 * - `'throw'`: one read before the step; a bad step throws `NON_FINITE`, naming the culprits.
 */
export type NonFinitePolicy = 'apply' | 'skip' | 'skipExact' | 'throw';

const POLICIES: readonly NonFinitePolicy[] = ['apply', 'skip', 'skipExact', 'throw'];

/** Options of {@link StepEngine}. */
export interface StepEngineOptions {
  /** Use the fusion target of the active backend when the transform fuses (default true). */
  readonly fused?: boolean;
  /** Allow steps whose gradients cover only some parameters (default false). */
  readonly allowMissing?: boolean;
  /** Default `'apply'`. */
  readonly nonFinite?: NonFinitePolicy;
  /** Names the driver in error messages (default `'StepEngine'`). */
  readonly owner?: string;
}

type Tree = StateValue | Partial<Signals> | undefined;

/** Keeps every tensor of a tree alive across tfjs scopes (`tf.keep`). */
function keepTree(tree: unknown): void {
  for (const t of collectTensors(tree)) tf.keep(t);
}

/** The tree with each tensor of `replace` swapped for its own copy. */
function detach<T>(tree: T, replace: ReadonlySet<Tensor>): T {
  if (replace.size === 0) return tree;
  const visit = (value: unknown): unknown => {
    if (isTensor(value)) return replace.has(value) ? tf.clone(value) : value;
    if (Array.isArray(value)) return value.map(visit);
    if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, visit(v)]));
    return value;
  };
  return visit(tree) as T;
}

/**
 * The state of new parameters merged into an existing state: where both have an object,
 * their keys are joined (per-parameter maps gain the new names); elsewhere the existing
 * value stays.
 */
export function mergeState(existing: StateValue, added: StateValue): StateValue {
  const isObject = (v: unknown): v is Record<string, StateValue> => typeof v === 'object' && v !== null && !Array.isArray(v) && !isTensor(v);
  if (Array.isArray(existing) && Array.isArray(added)) {
    return existing.map((e, i) => (i < added.length ? mergeState(e as StateValue, added[i] as StateValue) : e)) as StateValue;
  }
  if (isObject(existing) && isObject(added)) {
    const out: Record<string, StateValue> = { ...existing };
    for (const [key, value] of Object.entries(added)) out[key] = out[key] === undefined ? value : mergeState(out[key]!, value);
    return out;
  }
  return existing;
}

/**
 * The one step engine behind every driver (`StatefulOptimizer`, the tfjs adapter): the
 * parameters and their state, one whole step through `applyStep` (fused where a target
 * runs the chain), the non-finite policy and its device-side counter, the last signals
 * and path, and restoring a state. Drivers only translate their inputs to it.
 */
export class StepEngine<S extends StateValue = StateValue> {
  private vars: Record<string, Variable> = {};
  private names: string[] = [];
  private current: S | undefined;
  private lastSignals: Partial<Signals> = {};
  private lastPath: StepPath | undefined;
  private skipped: tf.Scalar | undefined;
  private steps = 0;
  private disposed = false;
  readonly nonFinite: NonFinitePolicy;
  readonly fused: boolean;
  private readonly allowMissing: boolean;
  private readonly owner: string;

  constructor(
    readonly transform: GradientTransformation<S>,
    options: StepEngineOptions = {},
  ) {
    this.owner = options.owner ?? 'StepEngine';
    const policy = options.nonFinite ?? 'apply';
    if (!POLICIES.includes(policy)) {
      throw new EmosensError('INVALID_OPTION', `${this.owner}: the non-finite policy must be one of ${POLICIES.map((p) => `'${p}'`).join(', ')}, got ${String(policy)}.`);
    }
    this.nonFinite = policy;
    this.fused = options.fused ?? true;
    this.allowMissing = options.allowMissing ?? false;
  }

  /** The parameters, by name. */
  get params(): Readonly<Record<string, Variable>> {
    return this.vars;
  }

  /** The parameters' names, in the order they were added. */
  get parameterNames(): readonly string[] {
    return this.names;
  }

  /** The state (`undefined` before any parameter was added). */
  get state(): S | undefined {
    return this.current;
  }

  get signals(): Readonly<Partial<Signals>> {
    return this.lastSignals;
  }

  /** Which path ran the last step. */
  get path(): StepPath | undefined {
    return this.lastPath;
  }

  /** Steps taken (applied or skipped). */
  get stepCount(): number {
    return this.steps;
  }

  /** Steps skipped for non-finite input: an int32 scalar kept on the device. */
  get skippedSteps(): tf.Scalar {
    this.skipped ??= tf.keep(tf.scalar(0, 'int32'));
    return this.skipped;
  }

  /** Replaces the skipped-step counter (e.g. restored from a checkpoint); the engine owns `count`. */
  setSkippedSteps(count: tf.Scalar): void {
    if (!isTensor(count) || count.size !== 1) throw new EmosensError('INVALID_STATE', `${this.owner}: the skipped-step counter must be a scalar tensor.`);
    this.skipped?.dispose();
    this.skipped = tf.keep(count.dtype === 'int32' ? count : (tf.tidy(() => tf.cast(count, 'int32')) as tf.Scalar));
    if (this.skipped !== count) count.dispose();
  }

  /** Adds parameters: their state is initialised and merged into the existing state. Known names are ignored. */
  addParams(params: Readonly<Record<string, Variable>>): void {
    this.assertUsable();
    const fresh = Object.entries(params).filter(([n]) => !(n in this.vars));
    if (fresh.length === 0 && this.current !== undefined) return;
    const added: Record<string, Variable> = Object.fromEntries(fresh);
    const extra = this.transform.init(added);
    const next = (this.current === undefined ? extra : mergeState(this.current, extra)) as S;
    disposeReplaced(extra, next, added);
    keepTree(next);
    this.current = next;
    this.vars = { ...this.vars, ...added };
    this.names.push(...fresh.map(([n]) => n));
  }

  /**
   * Replaces the state (e.g. one restored from a checkpoint) and, with `params`, the
   * parameters it belongs to. The old state is released.
   */
  setState(state: S, params?: Readonly<Record<string, Variable>>): void {
    if (state === undefined || state === null) throw new EmosensError('INVALID_STATE', `${this.owner}: setState expected a state.`);
    this.assertUsable();
    // The state must have the layout the transform's init makes for these parameters
    // (checked without reading values; a restore from saved weights also refuses NaN).
    const vars = params ?? this.vars;
    const template = this.transform.init(vars);
    try {
      checkStateLayout(template, state, `${this.owner}.setState`);
    } finally {
      disposeReplaced(template, state, vars);
    }
    keepTree(state);
    if (this.current !== undefined) disposeReplaced(this.current, state, this.vars, params);
    this.current = state;
    if (params !== undefined) {
      this.vars = { ...params };
      this.names = Object.keys(params);
    }
  }

  /**
   * One step: the non-finite policy, then `applyStep` (fused where a target runs the
   * chain). On error nothing changes. `grads` and a tensor `loss` stay the caller's.
   */
  step(grads: Updates, loss: Loss | undefined): void {
    this.assertUsable();
    validateGradients(this.vars, grads, { allowMissing: this.allowMissing, block: this.owner });
    if (this.current === undefined) this.addParams({});
    if (this.nonFinite !== 'apply') void this.skippedSteps; // the counter exists from the first step on
    if (this.nonFinite !== 'apply' && typeof loss === 'number' && !Number.isFinite(Math.fround(loss))) {
      this.reject(`the loss is ${loss}`);
      return;
    }
    if (this.nonFinite === 'skipExact' || this.nonFinite === 'throw') {
      const problem = findNonFinite(loss, grads, this.nonFinite === 'throw');
      if (problem !== undefined) {
        this.reject(problem);
        return;
      }
    }
    const skip = this.nonFinite === 'skip';
    const oldSignals = this.lastSignals;
    const result = applyStep(this.transform, this.vars, this.current as S, grads, {
      ...(loss !== undefined ? { loss } : {}),
      allowMissing: this.allowMissing,
      fused: this.fused,
      ...(skip ? { skipNonFinite: true, previousSignals: oldSignals } : {}),
    });
    // A transform may hand a gradient through into its state; gradients are released by
    // the caller, so the state gets its own copy.
    const gradTensors = new Set(Object.values(grads));
    const state = detach(result.state, gradTensors);
    const signals = detach(result.signals, gradTensors);
    keepTree(state);
    keepTree(signals);
    if (skip) this.count(result.finite);
    disposeReplaced(oldSignals as Tree, state, signals, this.vars, grads, loss);
    this.current = state;
    this.lastSignals = signals;
    this.lastPath = result.path;
    this.steps += 1;
  }

  private count(finite: boolean | Tensor | undefined): void {
    if (finite === undefined || finite === true) return;
    const old = this.skippedSteps;
    this.skipped = tf.keep(
      tf.tidy(() => (finite === false ? tf.add(old, tf.scalar(1, 'int32')) : tf.add(old, tf.sub(tf.scalar(1, 'int32'), tf.cast(finite, 'int32'))))) as tf.Scalar,
    );
    old.dispose();
    if (isTensor(finite)) finite.dispose();
  }

  private reject(problem: string): void {
    if (this.nonFinite === 'throw') {
      throw new EmosensError(
        'NON_FINITE',
        `${this.owner}: ${problem}; the step was not applied (non-finite policy 'throw'). Use 'skip' to skip such steps instead.`,
      );
    }
    this.count(false);
    this.steps += 1;
  }

  /** A scalar signal of the last step as a number (a synchronous read: not on WebGPU in Node). */
  readSignal(name: SignalName): number | undefined {
    const value = (this.lastSignals as Record<string, unknown>)[name];
    return isTensor(value) ? value.dataSync()[0] : undefined;
  }

  /** A scalar signal of the last step as a number, read asynchronously (works on every backend). */
  async readSignalAsync(name: SignalName): Promise<number | undefined> {
    const value = (this.lastSignals as Record<string, unknown>)[name];
    if (!isTensor(value)) return undefined;
    // A copy shares the storage, so the next step may release the signal while the read is in flight.
    const copy = tf.clone(value);
    try {
      return (await copy.data())[0];
    } finally {
      copy.dispose();
    }
  }

  /** Throws `DISPOSED` once {@link dispose} was called: a disposed driver never restarts from a fresh state. */
  assertUsable(): void {
    if (this.disposed) {
      throw new EmosensError('DISPOSED', `${this.owner}: this optimizer has been disposed; create a new one to keep training.`);
    }
  }

  /** {@link release}, after which every step throws `DISPOSED`. */
  dispose(): void {
    this.release();
    this.disposed = true;
  }

  /** Releases the state, the last signals and the counter, and forgets the parameters (not disposed: they are the caller's). */
  release(): void {
    disposeState(this.current);
    disposeReplaced(this.lastSignals as Tree, this.current);
    this.skipped?.dispose();
    this.skipped = undefined;
    this.current = undefined;
    this.lastSignals = {};
    this.vars = {};
    this.names = [];
  }
}

/** Which of the loss and gradients hold NaN or Infinity (one read), or undefined when all are finite. */
function findNonFinite(loss: Loss | undefined, grads: Updates, describe: boolean): string | undefined {
  const ok = allFinite(loss, grads);
  const fine = ok.dataSync()[0] !== 0;
  ok.dispose();
  if (fine) return undefined;
  if (!describe) return 'non-finite values (NaN or Infinity) in the loss or gradients';
  const bad: string[] = [];
  const finite = (t: Tensor): boolean => {
    const flag = isAllFinite(t);
    const value = flag.dataSync()[0] !== 0;
    flag.dispose();
    return value;
  };
  if (isTensor(loss) && !finite(loss)) bad.push('the loss');
  for (const [name, g] of Object.entries(grads)) if (!finite(g)) bad.push(`the gradient of '${name}'`);
  return `non-finite values (NaN or Infinity) in ${bad.join(', ')}`;
}
