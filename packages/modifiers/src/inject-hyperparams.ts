import {
  collectTensors,
  composedUpdate,
  EmosensError,
  fusionBlocker,
  innerForm,
  isLeafRef,
  isSym,
  isTensor,
  type Fusion,
  type FusionForm,
  type GradientTransformation,
  type Params,
  type StateValue,
  type SymTree,
} from '@emosens/core';
import { dispose, type Tensor } from '@tensorflow/tfjs-core';
import type { Schedule } from './learning-rate.js';

/** A hyperparameter of {@link injectHyperparams}: a number, or a schedule `step => value` (0 on the first step). */
export type Hyperparam = number | Schedule;

/** The values a factory of {@link injectHyperparams} is built with: one number per hyperparameter. */
export type HyperparamValues<H> = { readonly [K in keyof H]: number };

/** State of {@link injectHyperparams}: plain numbers beside the inner block's state. */
export type InjectHyperparamsState<S extends StateValue> = {
  /** Steps taken so far (the step schedules are evaluated at). */
  readonly count: number;
  /**
   * The value of each hyperparameter: at first its number (a schedule's value at step 0),
   * after a step the value that step used. A number-valued one is read from here on the next
   * step, so {@link setHyperparams} changes it; a schedule-valued one is recomputed.
   */
  readonly hyperparams: { readonly [name: string]: number };
  /** The inner block's state. */
  readonly inner: S;
};

const stateError = (fn: string, what: string) => new EmosensError('INVALID_STATE', `${fn}: expected the state of injectHyperparams ({ count, hyperparams, inner }), ${what}.`);

function hyperparamsOf(fn: string, state: unknown): Readonly<Record<string, number>> {
  if (typeof state !== 'object' || state === null) throw stateError(fn, `got ${String(state)}`);
  const h = (state as { hyperparams?: unknown }).hyperparams;
  if (typeof h !== 'object' || h === null || Array.isArray(h)) throw stateError(fn, 'got one without hyperparams');
  return h as Record<string, number>;
}

/** The hyperparameter values held in a state of {@link injectHyperparams} (a copy; read it between steps). */
export function getHyperparams(state: InjectHyperparamsState<StateValue>): Record<string, number> {
  return { ...hyperparamsOf('getHyperparams', state) };
}

/**
 * A new state of {@link injectHyperparams} with `values` in place of the held ones; the
 * next step uses them (a schedule-valued hyperparameter is recomputed from its schedule
 * instead). Tensors are shared with `state`, so hand the result to `setState` of the
 * optimizer that owns `state`. Throws `INVALID_OPTION` for a name the state does not
 * hold or a value that is not a finite number.
 *
 * ```ts
 * opt.setState(setHyperparams(opt.state, { lr: 1e-4 }));
 * ```
 */
export function setHyperparams<S extends StateValue>(state: InjectHyperparamsState<S>, values: Readonly<Record<string, number>>): InjectHyperparamsState<S> {
  const fn = 'setHyperparams';
  const held = hyperparamsOf(fn, state);
  if (typeof values !== 'object' || values === null) throw new EmosensError('INVALID_OPTION', `${fn}: expected an object { name: value }, got ${String(values)}.`);
  for (const [name, value] of Object.entries(values)) {
    if (!Object.hasOwn(held, name)) {
      throw new EmosensError('INVALID_OPTION', `${fn}: no hyperparameter '${name}'; the state holds ${Object.keys(held).map((k) => `'${k}'`).join(', ') || 'none'}.`);
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new EmosensError('INVALID_OPTION', `${fn}: hyperparameter '${name}' must be a finite number, got ${String(value)}.`);
    }
  }
  return { ...state, hyperparams: { ...held, ...values } };
}

/** Where `probe` (an inner init state) and `actual` (the carried inner state) differ in layout, or undefined. */
function layoutMismatch(probe: unknown, actual: unknown, path: string): string | undefined {
  const at = path || '(root)';
  if (isTensor(probe)) {
    if (isLeafRef(actual) || isSym(actual)) return undefined;
    if (!isTensor(actual)) return `'${at}' is a tensor in the new state, not in the carried one`;
    const [a, b] = [probe as Tensor, actual as Tensor];
    return a.shape.join() === b.shape.join() && a.dtype === b.dtype ? undefined : `'${at}' is [${a.shape.join(', ')}] ${a.dtype}, was [${b.shape.join(', ')}] ${b.dtype}`;
  }
  if (Array.isArray(probe)) {
    if (!Array.isArray(actual) || actual.length !== probe.length) return `'${at}' is a list of ${probe.length}, was ${Array.isArray(actual) ? `a list of ${actual.length}` : 'not a list'}`;
    for (let i = 0; i < probe.length; i++) {
      const m = layoutMismatch(probe[i], actual[i], path ? `${path}/${i}` : String(i));
      if (m !== undefined) return m;
    }
    return undefined;
  }
  if (typeof probe === 'object' && probe !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual) || isLeafRef(actual) || isSym(actual) || isTensor(actual)) return `'${at}' is an object, was not`;
    const keys = Object.keys(probe).sort();
    const was = Object.keys(actual).sort();
    if (keys.join() !== was.join()) return `'${at}' has keys ${keys.join(', ')}, had ${was.join(', ')}`;
    for (const k of keys) {
      const m = layoutMismatch((probe as Record<string, unknown>)[k], (actual as Record<string, unknown>)[k], path ? `${path}/${k}` : k);
      if (m !== undefined) return m;
    }
    return undefined;
  }
  return typeof probe === typeof actual ? undefined : `'${at}' is a ${typeof probe}, was a ${typeof actual}`;
}

/**
 * Makes the hyperparameters of a block part of its state (optax `inject_hyperparams`), so
 * they can be read and changed between steps and are saved and restored with the rest of
 * the state; a hyperparameter can also be a schedule of the step count.
 *
 * ```ts
 * const tx = injectHyperparams((h) => chain(scaleByAdam({ b1: h.b1 }), scaleByLearningRate(h.lr)), { lr: 1e-3, b1: 0.9 });
 * const opt = statefulOptimizer(tx, params);
 * opt.step(grads);
 * opt.setState(setHyperparams(opt.state, { lr: 1e-4 }));   // the next step uses lr 1e-4
 * getHyperparams(opt.state);                                // { lr: 0.0001, b1: 0.9 }
 * ```
 *
 * Each step: the values are the held numbers, with every schedule-valued hyperparameter
 * replaced by its schedule at `count`; `factory(values)` gives the inner block (the last one
 * built is reused while the values stay the same), which runs on the carried inner state.
 * The state is `{ count, hyperparams, inner }` with `hyperparams` the values the step used.
 *
 * The inner block's state layout must not depend on the values (a factory that adds a
 * moment for some value and not for another is refused with `INVALID_STATE` when the
 * values change). Fused when the inner block is, but a value enters the fused pass as a
 * constant: **a changed value recompiles the pass**. A learning rate that changes every
 * step is better given to `scaleByLearningRate` as a schedule directly (a per-step value
 * there, no recompilation).
 *
 * `count` is a host number, as `scaleByLearningRate`'s with a schedule: a step skipped on the
 * device (the tfjs adapter's `'skip'` policy) still advances it.
 */
export function injectHyperparams<H extends Readonly<Record<string, Hyperparam>>, S extends StateValue>(
  factory: (values: HyperparamValues<H>) => GradientTransformation<S>,
  hyperparams: H,
): GradientTransformation<InjectHyperparamsState<S>> {
  const fn = 'injectHyperparams';
  if (typeof factory !== 'function') throw new EmosensError('INVALID_OPTION', `${fn}: option 'factory' must be a function (values => transform), got ${String(factory)}.`);
  if (typeof hyperparams !== 'object' || hyperparams === null || Array.isArray(hyperparams)) {
    throw new EmosensError('INVALID_OPTION', `${fn}: option 'hyperparams' must be an object { name: number | schedule }, got ${String(hyperparams)}.`);
  }
  const names = Object.keys(hyperparams);
  const schedules = new Map<string, Schedule>();
  for (const name of names) {
    const v: unknown = hyperparams[name];
    if (typeof v === 'function') schedules.set(name, v as Schedule);
    else if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new EmosensError('INVALID_OPTION', `${fn}: hyperparameter '${name}' must be a finite number or a schedule (step => value), got ${String(v)}.`);
    }
  }
  const scheduled = (name: string, count: number): number => {
    const value = schedules.get(name)!(count);
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new EmosensError('INVALID_OPTION', `${fn}: the schedule of hyperparameter '${name}' returned ${String(value)} at step ${count}; expected a finite number.`);
    }
    return value;
  };
  const valuesAt = (held: Readonly<Record<string, number>>, count: number): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const name of names) {
      if (schedules.has(name)) out[name] = scheduled(name, count);
      else {
        const v = held[name];
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          throw new EmosensError('INVALID_STATE', `${fn}: the state holds ${String(v)} for hyperparameter '${name}'; expected a finite number.`);
        }
        out[name] = v;
      }
    }
    return out;
  };

  // the last inner block built, by its values
  let last: { key: string; inner: GradientTransformation<S> } | undefined;
  const build = (values: Record<string, number>): { inner: GradientTransformation<S>; fresh: boolean } => {
    const key = names.map((n) => String(values[n])).join(',');
    if (last?.key === key) return { inner: last.inner, fresh: false };
    const inner = factory(values as HyperparamValues<H>);
    if (inner === null || typeof inner !== 'object' || typeof inner.init !== 'function' || typeof inner.update !== 'function') {
      throw new EmosensError('INVALID_OPTION', `${fn}: the factory must return a gradient transformation { name, init, update }, got ${String(inner)}.`);
    }
    last = { key, inner };
    return { inner, fresh: true };
  };

  const initial = valuesAt(hyperparams as Readonly<Record<string, number>>, 0);
  const first = build(initial).inner;
  const name = `${fn}(${first.name})`;

  const form: FusionForm = {
    update(updates, state, params, context) {
      const s = state as { count: number; hyperparams: Readonly<Record<string, number>>; inner: SymTree };
      const values = valuesAt(s.hyperparams, s.count);
      const { inner, fresh } = build(values);
      if (fresh) {
        // a new inner block: its init layout must be the one carried (probed on the parameters' shapes)
        const probeParams: Record<string, Tensor> = {};
        for (const key of Object.keys(params)) probeParams[key] = context.parameter(key);
        const probe = inner.init(probeParams as Params);
        const kept = new Set<Tensor>(Object.values(probeParams));
        const mismatch = layoutMismatch(probe, s.inner, '');
        dispose([...collectTensors(probe)].filter((t) => !kept.has(t)));
        if (mismatch !== undefined) {
          throw new EmosensError(
            'INVALID_STATE',
            `${fn}: the inner state's layout changed with the hyperparameters (${names.map((n) => `${n} = ${values[n]}`).join(', ')}): ${mismatch}. The factory must build blocks of one state layout for every value.`,
          );
        }
      }
      const r = innerForm(inner).update(updates, s.inner, params, context);
      return { updates: r.updates, state: { count: s.count + 1, hyperparams: values, inner: r.state } };
    },
  };
  const blocked = fusionBlocker(first.name, first.fusion);
  const fusion: Fusion = blocked === undefined ? form : { blocked };

  return {
    name,
    init(params) {
      const values = valuesAt(hyperparams as Readonly<Record<string, number>>, 0);
      return { count: 0, hyperparams: values, inner: build(values).inner.init(params) };
    },
    update: composedUpdate(name, form),
    fusion,
  };
}
