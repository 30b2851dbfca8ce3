import * as tf from '@tensorflow/tfjs-core';
import {
  EmosensError,
  StepEngine,
  check,
  describeValue,
  collectTensors,
  disposeReplaced,
  findNaNLeaf,
  isTensor,
  unflattenState,
  validateLoss,
  type GradientTransformation,
  type Loss,
  type SignalName,
  type StepPath,
  type Signals,
  type StateValue,
} from '@emosens/core';
import { leavesWithSegments, type Leaf } from './internal/state-tree.js';
import { decodeWeights, encodeWeights, type DecodedWeights, type NamedTensor } from './internal/weights.js';
import { getTransformFactory, type FactoryOptions } from './registry.js';

/**
 * What a step does when the loss or a gradient holds NaN or Infinity.
 *
 * - `'skip'` (default): nothing is read back. A fusion target that guards non-finite input
 *   (e.g. `@emosens/backend-cpu`'s) checks the loss and gradients itself and writes
 *   nothing on a bad step; otherwise the composed step is applied on the device as
 *   `where(ok, new, old)` for every parameter, every tensor of the state and every
 *   signal (`applyStep(..., { skipNonFinite: true })` of @emosens/core). A bad step
 *   leaves the parameters and every tensor leaf exactly as they were.
 *   This is exact for the ready-made optimizers (emoSens, emoAiry, emoCats, adam, adamw,
 *   with or without shadow), whose state is all tensors, step counts included, and for
 *   any chain whose state is all tensors: the next good step computes bit for bit what it
 *   would have computed had the bad step never come. Number leaves of a custom chain (a
 *   learning-rate schedule's `{ count: number }`, for one) still advance on a skipped
 *   composed step (a guarding target leaves them too), because a JavaScript number cannot be chosen by a device value without reading
 *   it.
 * - `'skipExact'`: reads one boolean per step and, when it is false, does not run the
 *   transform at all: parameters, tensors and number leaves all stay as they were.
 *   Exact for every chain.
 * - `'throw'`: reads one boolean per step and throws {@link EmosensError} `NON_FINITE`
 *   (naming the loss or the gradients at fault); nothing changes.
 *
 * Skipped steps are counted in {@link TransformOptimizer.skippedSteps}. A number loss
 * (`setLoss(NaN)`) is checked in JavaScript and skips exactly in every mode.
 */
export type NonFinitePolicy = 'skip' | 'skipExact' | 'throw';

const POLICIES: readonly NonFinitePolicy[] = ['skip', 'skipExact', 'throw'];

const ADAPTER_OPTIONS = ['onNonFinite', 'fused', 'source'] as const;

/** Validates {@link TransformOptimizerOptions} once, naming the option: known keys only, `fused` a boolean, `onNonFinite` a policy. */
function checkAdapterOptions(options: unknown): { policy: NonFinitePolicy; fused: boolean } {
  const owner = 'TransformOptimizer';
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new EmosensError('INVALID_OPTION', `${owner}: options must be an object, got ${describeValue(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!(ADAPTER_OPTIONS as readonly string[]).includes(key)) {
      throw new EmosensError('INVALID_OPTION', `${owner}: unknown option '${key}'; known options: ${ADAPTER_OPTIONS.join(', ')}.`);
    }
  }
  const o = options as TransformOptimizerOptions;
  const policy = o.onNonFinite === undefined ? 'skip' : o.onNonFinite;
  if (!POLICIES.includes(policy)) {
    throw new EmosensError(
      'INVALID_OPTION',
      `${owner}: option 'onNonFinite' must be one of ${POLICIES.map((p) => `'${p}'`).join(', ')}, got ${describeValue(policy)}.`,
    );
  }
  const fused = check.boolean(owner, 'fused', o.fused ?? true);
  return { policy, fused };
}

/** Variable names for a message: the first six, then how many more. */
function listNames(names: readonly string[]): string {
  return names.length <= 6 ? names.join(', ') : `${names.slice(0, 6).join(', ')}, ... (${names.length - 6} more)`;
}

/** How to rebuild an optimizer's transform from a config: a registered factory and its options. */
export interface TransformSource {
  readonly factory: string;
  readonly options: FactoryOptions;
}

/** Options of {@link TransformOptimizer}. */
export interface TransformOptimizerOptions {
  /** What a step does with a non-finite loss or gradient. Default `'skip'`. */
  readonly onNonFinite?: NonFinitePolicy;
  /**
   * Run the whole step as one fused pass when the active backend has a fusion target and
   * the transform fuses (see `registerFusionTarget` in @emosens/core). Default true. In the
   * `'skip'` mode a target is used when it guards non-finite input itself
   * (`guardsNonFinite`, as the typed-array target does); with one that does not, that mode
   * runs the composed transform under the device-side guard.
   */
  readonly fused?: boolean;
  /**
   * The registered factory (and its options) that built `transform`, so that
   * `getConfig` / `fromConfig` can rebuild it. Set by `createOptimizer` and the
   * ready-made factories; leave it out for a custom transform.
   */
  readonly source?: TransformSource;
}

/**
 * A `tf.Optimizer` that runs any emosens {@link GradientTransformation}: use it with
 * `optimizer.minimize(f)`, with `applyGradients` (after {@link setLoss}), or as the
 * optimizer of a tfjs-layers model (`model.compile({ optimizer, loss })`).
 *
 * Each step, for the variables `p` that have gradients `g`:
 * ```
 * updates, state <- transform.update(g, state, p, { loss })
 * p <- p + updates
 * ```
 * The parameters are the registered variables (`tf.engine().registeredVariables`) named
 * by the gradients; the state is created by `transform.init` on the first step and
 * extended when new variables appear. The loss goes to the transform as a tensor: a
 * step reads nothing back from the device (see {@link NonFinitePolicy} for the checks
 * that do), unless a block asks for the loss as a number (the v3.9.1 optimizers,
 * `emoSensV3` and its kin: one read per step).
 *
 * ```ts
 * const opt = new TransformOptimizer(chain(trackEmotion(), scaleByAdam(), scaleByLearningRate(1e-3)));
 * model.compile({ optimizer: opt, loss: 'meanSquaredError' });
 * await model.fit(xs, ys, { epochs: 10 });
 * ```
 *
 * One optimizer per model: its state (moments, the loss averages and emotion scalar)
 * belongs to the variables it trains, so a step over variables that share none with them
 * (the same optimizer compiled into a second model) throws `INVALID_ARGUMENT` and changes
 * nothing. Build one optimizer for each `model.compile`.
 *
 * Differs from the PyTorch reference: a transform that needs the loss never gets a
 * silent 0 when none was given: `applyGradients` without `setLoss` throws
 * `MISSING_LOSS`.
 */
export class TransformOptimizer<S extends StateValue = StateValue> extends tf.Optimizer {
  /** The name under which the class is registered for tfjs serialization. */
  static readonly className = 'EmosensOptimizer';

  readonly transform: GradientTransformation<S>;
  readonly onNonFinite: NonFinitePolicy;
  private readonly source: TransformSource | undefined;
  /** The step engine shared with `StatefulOptimizer`: variables (in the order first seen), state, policy, counter, signals. */
  private readonly engine: StepEngine<S>;
  private pendingLoss: Loss | undefined;
  private pendingRestore: DecodedWeights | undefined;
  /** Tensors created by the last getWeights call (released by the next one). */
  private exported: tf.Tensor[] = [];

  constructor(transform: GradientTransformation<S>, options: TransformOptimizerOptions = {}) {
    super();
    if (transform === null || typeof transform !== 'object' || typeof transform.update !== 'function' || typeof transform.init !== 'function') {
      throw new EmosensError('INVALID_OPTION', 'TransformOptimizer: transform must be a GradientTransformation ({ name, init, update }).');
    }
    const { policy, fused } = checkAdapterOptions(options);
    this.transform = transform;
    this.onNonFinite = policy;
    this.source = options.source;
    this.engine = new StepEngine(transform, { owner: 'TransformOptimizer', allowMissing: true, fused, nonFinite: policy });
  }

  /** The transform's current state (read it, do not dispose it); `undefined` before the first step. */
  get state(): S | undefined {
    return this.engine.state;
  }

  /** Which path ran the last step: the composed transform or the fused pass. */
  get path(): StepPath | undefined {
    return this.engine.path;
  }

  /** The names of the variables this optimizer trains, in the order it first saw them. */
  get parameterNames(): readonly string[] {
    return this.engine.parameterNames;
  }

  /** The signals published during the last step (e.g. `emotion`, `calm`); read them, do not dispose them. */
  get signals(): Readonly<Partial<Signals>> {
    return this.engine.signals;
  }

  /**
   * Reads a scalar signal of the last step as a number (a bool signal gives 1 or 0), or
   * `undefined` when the last step did not publish it. This reads the value back from
   * the device: call it between steps, not inside a hot loop.
   */
  readSignal(name: SignalName): number | undefined {
    return this.engine.readSignal(name);
  }

  /**
   * {@link readSignal} without a synchronous read: resolves to the signal of the last
   * step as a number (a bool signal gives 1 or 0), or `undefined` when the last step did
   * not publish it. Use it where synchronous reads are not possible (webgpu in Node has
   * no `OffscreenCanvas` for them) or would stall. The value is the one published when
   * this is called: steps taken before the promise settles do not change it.
   */
  readSignalAsync(name: SignalName): Promise<number | undefined> {
    return this.engine.readSignalAsync(name);
  }


  /** How many steps were skipped for non-finite input, as an int32 scalar kept on the device. */
  get skippedSteps(): tf.Scalar {
    return this.engine.skippedSteps;
  }

  /** {@link skippedSteps} as a number (reads it back: call it between steps). */
  readSkippedSteps(): number {
    return this.skippedSteps.dataSync()[0] ?? 0;
  }

  /**
   * Gives the loss for the next {@link applyGradients} call, which uses it once and
   * clears it. A tensor is copied (the caller may dispose its own). `minimize` does not
   * need this: it computes the loss itself.
   */
  setLoss(loss: Loss): void {
    validateLoss(loss);
    this.discardPendingLoss();
    this.pendingLoss = typeof loss === 'number' ? loss : (tf.keep(tf.clone(loss)) as tf.Scalar);
  }

  /**
   * Computes `f()` and its gradients with respect to `varList` (default: every trainable
   * variable), and takes one step with that loss. Returns the loss when `returnCost`.
   */
  override minimize(f: () => tf.Scalar, returnCost = false, varList?: tf.Variable[]): tf.Scalar | null {
    this.engine.assertUsable();
    const { value, grads } = this.computeGradients(f, varList);
    this.discardPendingLoss();
    try {
      const selected: Record<string, tf.Tensor> = {};
      if (varList != null) {
        for (const v of varList) {
          const g = grads[v.name];
          if (g != null) selected[v.name] = g;
        }
      } else {
        Object.assign(selected, grads);
      }
      this.step(selected, tf.clone(value));
    } catch (error) {
      value.dispose();
      throw error;
    } finally {
      tf.dispose(grads);
    }
    if (returnCost) return value;
    value.dispose();
    return null;
  }

  /**
   * Takes one step with the given gradients (variable name -> gradient). The loss is the
   * one given beforehand with {@link setLoss}; a transform that needs a loss throws
   * `MISSING_LOSS` without it.
   */
  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const grads: Record<string, tf.Tensor> = {};
    if (Array.isArray(variableGradients)) {
      for (const { name, tensor } of variableGradients) if (tensor != null) grads[name] = tensor;
    } else {
      for (const [name, tensor] of Object.entries(variableGradients)) if (tensor != null) grads[name] = tensor;
    }
    const loss = this.pendingLoss;
    this.pendingLoss = undefined;
    this.step(grads, loss);
  }

  /** One step; `loss` (number, or a tensor this call owns) is released at the end unless the state keeps it. */
  private step(grads: Record<string, tf.Tensor>, loss: Loss | undefined): void {
    try {
      this.runStep(grads, loss);
    } finally {
      if (isTensor(loss) && !loss.isDisposed) {
        if (collectTensors(this.engine.state, this.engine.signals).has(loss)) tf.keep(loss);
        else loss.dispose();
      }
    }
  }

  private runStep(grads: Record<string, tf.Tensor>, loss: Loss | undefined): void {
    const names = Object.keys(grads);
    if (names.length === 0) return;
    this.prepare(names);
    try {
      this.engine.step(grads, loss);
    } catch (error) {
      if (error instanceof EmosensError && error.code === 'MISSING_LOSS') {
        throw new EmosensError(
          'MISSING_LOSS',
          `${error.message} With TransformOptimizer, minimize(f) passes the loss by itself; ` +
            'before applyGradients(grads), call optimizer.setLoss(loss).',
        );
      }
      throw error;
    }
    this.incrementIterations();
  }

  /**
   * The variables of this step, after making sure the state covers them: restores
   * pending weights, creates the state on the first step, extends it for new variables.
   * Returns every variable the optimizer trains.
   */
  private prepare(names: readonly string[]): Record<string, tf.Variable> {
    const registered = tf.engine().registeredVariables;
    const vars = names.map((name) => {
      const v = registered[name];
      if (v === undefined) {
        throw new EmosensError(
          'UNKNOWN_PARAMETER',
          `TransformOptimizer: got a gradient for '${name}', which is not a registered variable ` +
            '(gradients must be keyed by tf.Variable names).',
        );
      }
      return v;
    });
    this.checkSameModel(names);
    if (this.pendingRestore !== undefined) this.restore(names, vars);
    this.engine.addParams(Object.fromEntries(names.map((n, i) => [n, vars[i]!])));
    return this.engine.params as Record<string, tf.Variable>;
  }

  /**
   * One optimizer per model: a step whose variables share none with the ones this
   * optimizer already trains is a second model's (one optimizer compiled into two models).
   * Its state (moments, loss averages, the emotion scalar) belongs to the first model, so
   * going on would mix the two trainings without a word; this throws `INVALID_ARGUMENT`
   * before anything changes. New variables next to known ones (a layer unfrozen later)
   * still extend the state.
   */
  private checkSameModel(names: readonly string[]): void {
    const known = this.engine.parameterNames;
    if (this.pendingRestore !== undefined || known.length === 0 || names.some((n) => known.includes(n))) return;
    throw new EmosensError(
      'INVALID_ARGUMENT',
      `TransformOptimizer: this step's variables (${listNames(names)}) share none with the ${known.length} variables this optimizer trains ` +
        `(${listNames(known)}): the optimizer was compiled into a second model, or given another model's gradients. Its state ` +
        '(moments, loss averages, the emotion scalar) belongs to the first model, and sharing it would mix both trainings. ' +
        'Use one optimizer per model: call emoSens(...) (or createOptimizer) once for each model.compile.',
    );
  }

  /**
   * Turns weights given to setWeights into the state, now that the variables are known.
   * Variables are matched by name when every saved name is among this step's variables,
   * otherwise by position (as tfjs's own optimizers do), which is what resuming into a
   * freshly built model needs: tfjs-layers gives its variables new unique names.
   */
  private restore(names: readonly string[], vars: readonly tf.Variable[]): void {
    const pending = this.pendingRestore!;
    const saved = pending.params;
    const current = new Set(names);
    const byName = saved.every((p) => current.has(p.name));
    if (!byName && saved.length !== names.length) {
      throw new EmosensError(
        'INVALID_STATE',
        `TransformOptimizer: the restored optimizer state covers ${saved.length} variables (${listNames(saved.map((p) => p.name))}), ` +
          `but this model trains ${names.length} (${listNames(names)}); they match neither by name nor by position. The state was ` +
          'saved from a different model, or from an optimizer shared between models (an optimizer trains one model); ' +
          'load it into the model it was saved with, or start this one with a fresh optimizer.',
      );
    }
    const params: Record<string, tf.Variable> = {};
    const toSaved = new Map<string, string>();
    saved.forEach((p, i) => {
      const name = byName ? p.name : names[i]!;
      const v = byName ? vars[names.indexOf(p.name)]! : vars[i]!;
      if (v.shape.join(',') !== p.shape.join(',')) {
        throw new EmosensError(
          'INVALID_STATE',
          `TransformOptimizer: saved variable '${p.name}' has shape [${p.shape.join(', ')}], but '${name}', ` +
            `matched to it ${byName ? 'by name' : 'by position'}, has shape [${v.shape.join(', ')}].`,
        );
      }
      params[name] = v;
      toSaved.set(name, p.name);
    });

    const template = this.transform.init(params);
    try {
      const leaves = this.matchLeaves(template, pending.leaves, toSaved);
      const state = unflattenState(template, leaves);
      disposeReplaced(template, state, params);
      this.engine.setState(state, params);
    } catch (error) {
      disposeReplaced(template, params);
      throw error;
    }
    this.pendingRestore = undefined;
  }

  /**
   * The restored leaves by the template's paths (`toSaved` maps a variable's current name
   * to its saved one). Throws `INVALID_STATE` for a missing leaf, a tensor of another
   * dtype or shape, or a leaf the transform does not have.
   */
  private matchLeaves(template: S, saved: ReadonlyMap<string, Leaf>, toSaved: ReadonlyMap<string, string>): Map<string, Leaf> {
    const leaves = new Map<string, Leaf>();
    const used = new Set<string>();
    for (const { segments, value } of leavesWithSegments(template)) {
      const path = segments.join('/');
      const savedPath = segments.map((s) => toSaved.get(s) ?? s).join('/');
      const key = saved.has(savedPath) ? savedPath : path;
      const leaf = saved.get(key);
      if (leaf === undefined) {
        throw new EmosensError(
          'INVALID_STATE',
          `TransformOptimizer: the restored weights have no value for state leaf '${savedPath}' of ${this.transform.name}; ` +
            'were they saved from a differently configured optimizer?',
        );
      }
      if (isTensor(value) && (!isTensor(leaf) || leaf.dtype !== value.dtype || leaf.shape.join(',') !== value.shape.join(','))) {
        throw new EmosensError(
          'INVALID_STATE',
          `TransformOptimizer: restored state leaf '${savedPath}' must be a ${value.dtype} tensor of shape [${value.shape.join(', ')}].`,
        );
      }
      leaves.set(path, leaf);
      used.add(key);
    }
    const unused = [...saved.keys()].filter((k) => !used.has(k));
    if (unused.length > 0) {
      throw new EmosensError(
        'INVALID_STATE',
        `TransformOptimizer: the restored weights hold state that ${this.transform.name} does not have: ` +
          `${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', ...' : ''}.`,
      );
    }
    return leaves;
  }

  override async getWeights(): Promise<NamedTensor[]> {
    tf.dispose(this.exported);
    const pending = this.pendingRestore;
    const { weights, created } = encodeWeights({
      iterations: this.iterations,
      skipped: this.skippedSteps,
      params: pending?.params ?? this.engine.parameterNames.map((name) => ({ name, shape: this.engine.params[name]!.shape })),
      state: pending ? Object.fromEntries(pending.leaves) : this.engine.state,
    });
    created.forEach((t) => tf.keep(t));
    this.exported = created;
    return weights;
  }

  /**
   * Restores weights written by {@link getWeights} (the state is rebuilt at the next step,
   * once the variables are known). Refuses with `INVALID_STATE`, changing nothing, weights
   * that are not an emosens optimizer's, NaN in a state leaf (±Infinity is accepted), a
   * missing or extra state leaf, a leaf of the wrong shape or dtype, and an `iter` that is
   * not a whole number >= 0.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const decoded = await decodeWeights(weightValues);
    try {
      await this.checkRestorable(decoded);
    } catch (error) {
      tf.dispose([...decoded.leaves.values()].filter(isTensor));
      decoded.skipped.dispose();
      throw error;
    }
    this.releaseState();
    this.iterations_ = decoded.iterations;
    this.engine.setSkippedSteps(decoded.skipped);
    this.pendingRestore = decoded;
  }

  /**
   * Refuses, before anything changes, weights that cannot be restored: NaN in a state leaf
   * (±Infinity is accepted: a state can reach it legitimately), or leaves that do not fit
   * the state the transform makes for the saved variables' shapes (a missing or extra leaf,
   * a wrong shape or dtype). The variables are not known yet (they come with the next step),
   * so the template is built on zeros of the saved shapes.
   */
  private async checkRestorable(decoded: DecodedWeights): Promise<void> {
    const nan = await findNaNLeaf(Object.fromEntries(decoded.leaves));
    if (nan !== undefined) {
      throw new EmosensError(
        'INVALID_STATE',
        `TransformOptimizer: setWeights refused: state leaf '${nan}' holds NaN, which would turn every weight to NaN at the next step.`,
      );
    }
    const params = Object.fromEntries(decoded.params.map((p) => [p.name, tf.zeros([...p.shape])]));
    const template = this.transform.init(params);
    try {
      this.matchLeaves(template, decoded.leaves, new Map());
    } finally {
      tf.dispose([...collectTensors(template), ...Object.values(params)]);
    }
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      factory: this.source?.factory ?? null,
      options: this.source?.options ?? null,
      onNonFinite: this.onNonFinite,
      fused: this.engine.fused,
    };
  }

  /**
   * Rebuilds an optimizer from {@link getConfig}: the transform comes from the factory
   * registered under `config.factory`. A custom transform (built with `new
   * TransformOptimizer(tx)`) has no factory and cannot be rebuilt from a config: register
   * a factory and build it with `createOptimizer` to make it serializable.
   */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const factory = config['factory'];
    if (typeof factory !== 'string') {
      throw new EmosensError(
        'INVALID_OPTION',
        'EmosensOptimizer.fromConfig: the config names no transform factory: the optimizer wrapped a custom transform, ' +
          'whose closures a config cannot hold. Register a factory with registerTransformFactory(name, factory) and ' +
          'build the optimizer with createOptimizer(name, options) to make it serializable.',
      );
    }
    const raw = config['options'];
    const options = (raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as FactoryOptions;
    const onNonFinite = (config['onNonFinite'] ?? 'skip') as NonFinitePolicy;
    const fused = config['fused'] !== false;
    const transform = getTransformFactory(factory)(options);
    return new cls(transform, { onNonFinite, fused, source: { factory, options } });
  }

  /** Releases the state, signals, counters and any pending loss or restore. */
  override dispose(): void {
    this.releaseState();
    this.engine.dispose();
    this.discardPendingLoss();
    tf.dispose(this.exported);
    this.exported = [];
    super.dispose();
  }

  private releaseState(): void {
    this.engine.release();
    if (this.pendingRestore !== undefined) {
      tf.dispose([...this.pendingRestore.leaves.values()].filter(isTensor));
      this.pendingRestore.skipped.dispose();
      this.pendingRestore = undefined;
    }
  }

  private discardPendingLoss(): void {
    if (isTensor(this.pendingLoss)) this.pendingLoss.dispose();
    this.pendingLoss = undefined;
  }
}

tf.serialization.registerClass(TransformOptimizer);
