import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { Fusion } from './fusion/form.js';

/**
 * A named map of tensors. Parameters, gradients and updates are all tensor maps,
 * keyed by the same parameter names.
 */
export type TensorMap<T extends Tensor = Tensor> = Readonly<Record<string, T>>;

/** The current parameter values, by name. */
export type Params = TensorMap;

/** Gradients or updates (what a transform consumes and produces), by parameter name. */
export type Updates = TensorMap;

/**
 * Plain data a transform may keep between steps: tensors, numbers, booleans,
 * strings, and arrays or objects of those. No classes, no closures, so a state
 * can be flattened, saved and restored.
 */
export type StateValue =
  | Tensor
  | number
  | boolean
  | string
  | readonly StateValue[]
  | { readonly [key: string]: StateValue };

/**
 * The per-step signals that one block publishes for later blocks to read.
 *
 * Packages add their signals by declaration merging, so that reading a signal is
 * typed:
 *
 * ```ts
 * declare module '@emosens/core' {
 *   interface Signals { emotion: tf.Scalar }
 * }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface Signals {}

/** The name of a signal declared in {@link Signals}. */
export type SignalName = keyof Signals & string;

/** The step's loss, as a JavaScript number or a scalar tensor (kept on the device). */
export type Loss = number | Scalar;

/**
 * What a step carries besides gradients, state and params: this step's loss and
 * the signals published by blocks earlier in the chain.
 *
 * A context lives for one step. Tensors published as signals are owned by the
 * step and released with it unless the caller keeps them.
 */
export interface StepContext {
  /** This step's loss, exactly as handed to the step, or `undefined` if none was. */
  readonly loss: Loss | undefined;
  /**
   * This step's loss as a float32 scalar tensor (a number is converted once per step).
   * Throws {@link EmosensError} `MISSING_LOSS`, naming `block`, when no loss was given.
   */
  requireLoss(block: string): Scalar;
  /** Publishes `value` as signal `name`; each signal may be published once per step. */
  publish<K extends SignalName>(name: K, value: Signals[K], block: string): void;
  /**
   * Reads signal `name`. Throws {@link EmosensError} `MISSING_SIGNAL`, naming the signal
   * and `block`, when no earlier block published it this step.
   */
  read<K extends SignalName>(name: K, block: string): Signals[K];
  /** Whether signal `name` was published earlier in this step. */
  has(name: SignalName): boolean;
  /** The signals published so far this step, by name. */
  readonly signals: Readonly<Partial<Signals>>;
  /**
   * This step's loss as a JavaScript number, for rules that must run on the host in float64:
   * a number loss exactly as given; a tensor loss read back once per step (`dataSync`, so a
   * backend without synchronous reads needs a number loss). Throws `MISSING_LOSS`, naming
   * `block`, when no loss was given. Blocks that can work on the device use
   * {@link requireLoss} instead and cost no read.
   */
  lossValue(block: string): number;
  /** Publishes a host number `name` for later blocks of this step (once per step, as a signal). */
  publishValue(name: string, value: number, block: string): void;
  /** Reads a host number published earlier this step (`MISSING_SIGNAL` otherwise, naming `block`). */
  readValue(name: string, block: string): number;
  /** Whether host number `name` was published earlier this step. */
  hasValue(name: string): boolean;
}

/** What `update` returns: the transformed updates and the new state. */
export interface UpdateResult<S extends StateValue = StateValue> {
  readonly updates: Updates;
  readonly state: S;
}

/**
 * The contract every building block implements (the optax model, over tfjs tensors).
 *
 * - `init(params)` returns the block's initial state.
 * - `update(updates, state, params, context)` maps incoming updates (gradients, for the
 *   first block of a chain) to outgoing updates and returns the new state. It must not
 *   mutate its inputs: old state is released by the caller once the step succeeds.
 *
 * The final updates of a chain are *added* to the parameters (`applyUpdates`), so a
 * descent step returns negative updates.
 */
export interface GradientTransformation<S extends StateValue = StateValue> {
  /** A short name used in error messages, e.g. `scaleByAdam`. */
  readonly name: string;
  /**
   * The block's fused form (its update over symbolic values, see `fx`), from which every
   * backend target derives its fused step; or why it has none. Chains, partitions and
   * wrappers build theirs from their members'.
   */
  readonly fusion?: Fusion;
  init(params: Params): S;
  update(updates: Updates, state: S, params: Params, context: StepContext): UpdateResult<S>;
}

/** The state type of a transform. */
export type StateOf<T> = T extends GradientTransformation<infer S> ? S : never;
