import { add, cast, clone, dispose, scalar, sub, tidy, variable, type Tensor, type Variable } from '@tensorflow/tfjs-core';
import { applyStep, type StepPath } from './apply-step.js';
import { EmosensError } from './errors.js';
import { disposeReplaced, disposeState, isTensor } from './state-tree.js';
import type { GradientTransformation, Loss, SignalName, Signals, StateValue, TensorMap, Updates } from './types.js';
import { validateParams } from './validate.js';

export interface StatefulOptimizerOptions {
  /** Allow steps whose gradients cover only some parameters (default false). */
  readonly allowMissing?: boolean;
  /** Use a fused kernel when one is registered for the active backend (default true). */
  readonly fused?: boolean;
  /**
   * Skip steps whose loss or gradients hold NaN or Infinity: parameters and every state
   * tensor stay as they were, decided on the device without a readback (see
   * `applyStep`'s `skipNonFinite`), and {@link StatefulOptimizer.skippedSteps} counts them.
   * Default false (non-finite values flow into the weights, as in the reference).
   */
  readonly skipNonFinite?: boolean;
}

export interface StepOptions {
  /** This step's loss: a number, or a scalar tensor to keep the step free of readbacks. */
  readonly loss?: Loss;
}

/**
 * A transform together with the parameters it trains and its state: the small
 * stateful wrapper for code that does not want to thread state by hand.
 *
 * ```ts
 * const opt = statefulOptimizer(chain(scaleByAdam(), scaleByLearningRate(1e-2)), { w });
 * // tf.variableGrads keys gradients by the variable's own name: map them back to ours
 * const { value, grads } = tf.variableGrads(() => loss(opt.params.w));
 * opt.step({ w: grads[opt.params.w.name] }, { loss: value });
 * ```
 */
export class StatefulOptimizer<S extends StateValue = StateValue> {
  /** The trained parameters, as variables updated in place by each step. */
  readonly params: Readonly<Record<string, Variable>>;
  private currentState: S;
  private lastSignals: Partial<Signals> = {};
  private steps = 0;
  private readonly owned: Variable[];
  private readonly allowMissing: boolean;
  private readonly useFused: boolean;
  private readonly skipNonFinite: boolean;
  private skipped: Tensor | undefined;
  private lastPath: StepPath | undefined;

  constructor(
    readonly transform: GradientTransformation<S>,
    params: TensorMap,
    options: StatefulOptimizerOptions = {},
  ) {
    validateParams(params, transform.name);
    const vars: Record<string, Variable> = {};
    this.owned = [];
    for (const [name, p] of Object.entries(params)) {
      if (typeof (p as Partial<Variable>).assign === 'function') {
        vars[name] = p as Variable;
      } else {
        const v = variable(p, true, undefined, 'float32');
        this.owned.push(v);
        vars[name] = v;
      }
    }
    this.params = vars;
    this.allowMissing = options.allowMissing ?? false;
    this.useFused = options.fused ?? true;
    this.skipNonFinite = options.skipNonFinite ?? false;
    this.currentState = transform.init(this.params);
  }

  /** The transform's current state (plain data; read it, do not dispose it). */
  get state(): S {
    return this.currentState;
  }

  /** How many steps have succeeded. */
  get stepCount(): number {
    return this.steps;
  }

  /** Which path ran the last step: a fused kernel or the composed transform. */
  get path(): StepPath | undefined {
    return this.lastPath;
  }

  /** The signals published during the last step (e.g. `emotion`, `calm`). */
  get signals(): Readonly<Partial<Signals>> {
    return this.lastSignals;
  }

  /**
   * Reads a scalar signal of the last step as a number (this reads the value back from
   * the device: call it between steps, not inside a training hot loop).
   */
  readSignal(name: SignalName): number | undefined {
    const value = (this.lastSignals as Record<string, unknown>)[name] as Tensor | undefined;
    if (value === undefined) return undefined;
    return value.dataSync()[0];
  }

  /**
   * Runs one step: transforms `grads` through the chain and adds the result to the
   * parameters. On error nothing changes (parameters, state and step count).
   */
  step(grads: Updates, options: StepOptions = {}): void {
    const result = applyStep(this.transform, this.params, this.currentState, grads, {
      ...(options.loss !== undefined ? { loss: options.loss } : {}),
      allowMissing: this.allowMissing,
      fused: this.useFused,
      ...(this.skipNonFinite ? { skipNonFinite: true, previousSignals: this.lastSignals } : {}),
    });
    if (this.skipNonFinite) this.countSkipped(result.finite);
    disposeReplaced(this.lastSignals, result.state, result.signals, this.params, options.loss);
    this.currentState = result.state;
    this.lastSignals = result.signals;
    this.lastPath = result.path;
    this.steps += 1;
  }

  /**
   * How many steps were skipped for non-finite values (with `skipNonFinite`), as a float32
   * scalar kept on the device; read it between steps. `undefined` before any step.
   */
  get skippedSteps(): Tensor | undefined {
    return this.skipped;
  }

  private countSkipped(finite: boolean | Tensor | undefined): void {
    const previous = this.skipped;
    this.skipped = tidy(() => {
      const base = previous ?? scalar(0);
      if (finite === undefined || finite === true) return clone(base);
      if (finite === false) return add(base, 1);
      return add(base, sub(1, cast(finite, 'float32')));
    });
    previous?.dispose();
    if (isTensor(finite)) finite.dispose();
  }

  /** Replaces the state, e.g. one restored from a checkpoint. The old state is released. */
  setState(state: S): void {
    if (state === undefined) throw new EmosensError('INVALID_STATE', 'setState: expected a state.');
    disposeReplaced(this.currentState, state);
    this.currentState = state;
  }

  /** Releases the state, the last signals and any variables this object created. */
  dispose(): void {
    disposeState(this.currentState);
    disposeReplaced(this.lastSignals, this.currentState);
    this.skipped?.dispose();
    dispose(this.owned);
  }
}

/** Creates a {@link StatefulOptimizer}. */
export function statefulOptimizer<S extends StateValue>(
  transform: GradientTransformation<S>,
  params: TensorMap,
  options: StatefulOptimizerOptions = {},
): StatefulOptimizer<S> {
  return new StatefulOptimizer(transform, params, options);
}
