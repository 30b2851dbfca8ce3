import { dispose, variable, type Tensor, type Variable } from '@tensorflow/tfjs-core';
import type { StepPath } from './apply-step.js';
import { StepEngine } from './step-engine.js';
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
  private readonly engine: StepEngine<S>;
  private readonly owned: Variable[];

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
    this.engine = new StepEngine(transform, {
      owner: 'StatefulOptimizer',
      allowMissing: options.allowMissing ?? false,
      fused: options.fused ?? true,
      nonFinite: options.skipNonFinite ? 'skip' : 'apply',
    });
    this.engine.addParams(vars);
  }

  /** The trained parameters, as variables updated in place by each step. */
  get params(): Readonly<Record<string, Variable>> {
    return this.engine.params;
  }

  /** The transform's current state (plain data; read it, do not dispose it). */
  get state(): S {
    return this.engine.state as S;
  }

  /** How many steps have been taken (applied or skipped). */
  get stepCount(): number {
    return this.engine.stepCount;
  }

  /** Which path ran the last step: the fused pass of a fusion target, or the composed transform. */
  get path(): StepPath | undefined {
    return this.engine.path;
  }

  /** The signals published during the last step (e.g. `emotion`, `calm`). */
  get signals(): Readonly<Partial<Signals>> {
    return this.engine.signals;
  }

  /**
   * Reads a scalar signal of the last step as a number (this reads the value back from
   * the device: call it between steps, not inside a training hot loop).
   */
  readSignal(name: SignalName): number | undefined {
    return this.engine.readSignal(name);
  }

  /** {@link readSignal}, asynchronously (works on every backend, WebGPU in Node included). */
  readSignalAsync(name: SignalName): Promise<number | undefined> {
    return this.engine.readSignalAsync(name);
  }

  /**
   * Runs one step: transforms `grads` through the chain and adds the result to the
   * parameters. On error nothing changes (parameters, state and step count). A disposed
   * gradient or parameter, or a step after {@link dispose}, throws `DISPOSED`.
   */
  step(grads: Updates, options: StepOptions = {}): void {
    this.engine.step(grads, options.loss);
  }

  /**
   * How many steps were skipped for non-finite values (with `skipNonFinite`), as an int32
   * scalar kept on the device; read it between steps. `undefined` without `skipNonFinite`.
   */
  get skippedSteps(): Tensor | undefined {
    return this.engine.nonFinite === 'apply' ? undefined : this.engine.skippedSteps;
  }

  /**
   * Replaces the state, e.g. one restored from a checkpoint. The old state is released.
   * Throws `INVALID_STATE`, changing nothing, when the state does not have the layout the
   * transform's `init` makes (a missing or extra leaf, another kind, dtype or size); the
   * values are not read back (`TransformOptimizer.setWeights`, which reads them, also
   * refuses NaN). Throws `DISPOSED` after {@link dispose}.
   */
  setState(state: S): void {
    this.engine.setState(state);
  }

  /** Releases the state, the last signals and any variables this object created. */
  dispose(): void {
    this.engine.dispose();
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
