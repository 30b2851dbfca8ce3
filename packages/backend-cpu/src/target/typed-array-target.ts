import { isTensor, type FusionRunOptions, type FusionRunResult, type FusionTarget, type Signals, type TracedStep } from '@emosens/core';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import { compileJs, type JsPrecision } from './render-js.js';

/**
 * Typed-array memory of one tfjs backend: how a step reads a tensor's values and gets
 * storage it may write in place. The cpu backend keeps JavaScript typed arrays; the wasm
 * backend keeps its tensors in the module's heap, seen through typed-array views.
 */
export interface TypedArrayMemory {
  /** Why the step's tensors cannot be used here (e.g. one lives on another backend), or undefined. */
  check(tensors: Iterable<Tensor>): string | undefined;
  /** Begins a step; `inputs` are read only (their storage is never written). */
  begin(inputs: readonly Tensor[]): StepMemory;
  /**
   * The WebAssembly memory the arrays live in, when element passes may run as WebAssembly
   * SIMD functions over it (the wasm backend); undefined for JavaScript loops only.
   */
  simdMemory?(): WebAssembly.Memory | undefined;
  /**
   * Whether parameters get new storage every step (the pass reads the old values and writes
   * the new ones elsewhere; the variable is then assigned the new storage) instead of being
   * written in place: for backends that cache derived data by storage (see `wasmMemory`).
   */
  readonly freshParameters?: boolean;
}

/**
 * One step's access to memory. Storage is made writable first ({@link exclusive},
 * {@link writable}: these may allocate); typed arrays are taken after that ({@link values}),
 * since an allocation may move the wasm heap and detach earlier views.
 */
export interface StepMemory {
  /** Makes a variable's storage exclusive to it (copying once when shared), so it may be written in place. */
  exclusive(v: Variable): void;
  /** A tensor holding `t`'s values whose storage this step may write: `t`, or a copy that replaces it. */
  writable(t: Tensor): Tensor;
  /** The values of a tensor (a view: valid until the next allocation). */
  values(t: Tensor): Float32Array | Uint8Array;
  /** New storage of `v`'s shape and dtype, not initialised (for `freshParameters`). */
  allocate?(v: Variable): Tensor;
}

/** Options of {@link createTypedArrayTarget}. */
export interface TypedArrayTargetOptions {
  /** See `CpuKernelOptions.precision`. */
  readonly precision?: JsPrecision;
}

/** Whether every value of `values` is finite (`x - x` is NaN exactly for NaN and ±Infinity). */
function finiteArray(values: Float32Array | Uint8Array): boolean {
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const x = values[i]!;
    if (x - x !== 0) return false;
  }
  return true;
}

/**
 * The typed-array target of the fusion compiler: renders a traced step as one JavaScript
 * function (see `renderJs`), compiled once per program, and runs it over the arrays of
 * `memory`, writing parameters and state in place. Serves every backend whose tensors are
 * typed arrays the step can reach (cpu, wasm).
 */
export function createTypedArrayTarget(memory: TypedArrayMemory, options: TypedArrayTargetOptions = {}): FusionTarget {
  const precision = options.precision ?? 'fast';
  return {
    name: 'typed-array',
    guardsNonFinite: true,
    check(step) {
      const tensors: Tensor[] = [...step.params.flatMap((p) => [p.variable, p.grad]), ...step.leafTensors];
      if (isTensor(step.loss)) tensors.push(step.loss);
      return memory.check(tensors);
    },
    run(step, runOptions) {
      return runTypedArrayStep(step, memory, precision, runOptions);
    },
  };
}

function runTypedArrayStep(step: TracedStep, memory: TypedArrayMemory, precision: JsPrecision, options: FusionRunOptions): FusionRunResult {
  const fresh = memory.freshParameters === true;
  const fn = compileJs(step, precision, memory.simdMemory?.(), fresh);
  const { graph } = step;
  const lossTensor = isTensor(step.loss) ? step.loss : undefined;
  const mem = memory.begin([...step.params.map((p) => p.grad), ...(lossTensor ? [lossTensor] : [])]);
  const loss: number = lossTensor !== undefined ? mem.values(lossTensor)[0]! : typeof step.loss === 'number' ? step.loss : 0;
  // A written step leaf that a signal reports: the signal is that leaf's own tensor.
  const signalLeaf = step.signals.map((s) => {
    for (const [leaf, value] of step.writes) {
      const l = graph.leaves[leaf]!;
      if (value.id === s.value.id && l.dtype === s.dtype && (l.domain === 'step' || l.domain === 'param') && l.shape.length === 0) return leaf;
    }
    return undefined;
  });
  if (options.skipNonFinite && (!Number.isFinite(Math.fround(loss)) || !step.params.every((p) => finiteArray(mem.values(p.grad))))) {
    const signals: Record<string, Tensor> = {};
    step.signals.forEach((s, i) => {
      const leaf = signalLeaf[i];
      const previous = options.previousSignals?.[s.name as keyof Signals] as Tensor | undefined;
      if (leaf !== undefined) signals[s.name] = step.leafTensors[leaf]!;
      else if (previous !== undefined) signals[s.name] = previous;
    });
    return { state: step.state, signals: signals as Partial<Signals>, finite: false };
  }
  // First everything that may allocate, then the views.
  const outputs = fresh ? step.params.map((p) => mem.allocate!(p.variable)) : [];
  if (!fresh) for (const p of step.params) mem.exclusive(p.variable);
  const replaced = new Map<number, Tensor>();
  const tensors = step.leafTensors.map((t, i) => {
    if (!step.writes.has(i)) return graph.leaves[i]!.domain === undefined ? undefined : t;
    const w = mem.writable(t);
    if (w !== t) replaced.set(i, w);
    return w;
  });
  const params = step.params.map((p) => mem.values(p.variable) as Float32Array);
  const paramsOut = outputs.map((t) => mem.values(t) as Float32Array);
  const grads = step.params.map((p) => mem.values(p.grad) as Float32Array);
  const leaves = tensors.map((t) => (t === undefined ? undefined : mem.values(t)));
  const signalValues = new Float64Array(step.signals.length);
  fn({ params, ...(fresh ? { paramsOut } : {}), grads, leaves, loss, uniforms: graph.uniforms, signals: signalValues });
  if (fresh) {
    step.params.forEach((p, i) => {
      p.variable.assign(outputs[i]!); // the old storage is released with its last reference
      outputs[i]!.dispose();
    });
  }
  const tensorOf = (leaf: number, old: Tensor) => replaced.get(leaf) ?? old;
  const signals: Record<string, Tensor> = {};
  step.signals.forEach((s, i) => {
    const leaf = signalLeaf[i];
    signals[s.name] = leaf !== undefined ? tensorOf(leaf, step.leafTensors[leaf]!) : tf.scalar(s.dtype === 'bool' ? signalValues[i] !== 0 : signalValues[i]!, s.dtype);
  });
  const state = step.newState(tensorOf);
  return options.skipNonFinite ? { state, signals: signals as Partial<Signals>, finite: true } : { state, signals: signals as Partial<Signals> };
}
