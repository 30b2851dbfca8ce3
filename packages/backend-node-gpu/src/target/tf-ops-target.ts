import * as tf from '@tensorflow/tfjs-core';
import {
  allFinite,
  isTensor,
  selectWhere,
  type FusionRunOptions,
  type FusionRunResult,
  type FusionTarget,
  type Signals,
  type TracedStep,
  type Updates,
} from '@emosens/core';
import { domainShape, evaluateGraph, usedNodes } from './evaluate-graph.js';

/** The name of the target (what `explainFusion` reports). */
export const TF_OPS_TARGET = 'tf-ops';

/**
 * The "folded tf ops" target of the fusion compiler: runs any traced step as a sequence of
 * eager tf ops on the active backend, for backends without a target of their own
 * (tfjs-node-gpu's `'tensorflow'`, which exposes no custom kernels). It knows no block and
 * no optimizer: its whole math is the op table of `op-table.ts` over the step's graph.
 *
 * - Each node the outputs need is evaluated once at most, in id order, and folded where it
 *   can be (see `evaluateGraph`): constants on the host, identities to nothing, sums and
 *   scalings of per-parameter tensors to linear forms, so that `p + update` of a chain
 *   with decoupled weight decay runs as `p (1 - lr wd) + u (-lr)`. Folding reorders float32 rounding:
 *   fused steps agree with composed ones within the golden tolerance, not bit for bit.
 * - Everything stays on the device: no op reads a tensor back (no `dataSync`, no `Tile`).
 * - Parameters are assigned their new value; each written state leaf is a new tensor (the
 *   old one is released by core's `applyStep`); host values of the state (numbers) are as
 *   the fused form returned them.
 * - It guards non-finite input (`guardsNonFinite`): with `skipNonFinite`, `ok` (the loss and
 *   every gradient finite, `allFinite` of `@emosens/core`) is computed on the device and
 *   every write becomes `where(ok, new, old)`, so a skipped step leaves parameters and state
 *   tensors bit for bit as they were (`-0` included); `finite` is `ok`, a bool scalar tensor
 *   the caller owns. Host (number) leaves of the state, such as a learning-rate schedule's
 *   `count`, still advance on a step skipped on the device: the host cannot know `ok`
 *   without reading it back (as core's guard of a composed step documents). Only a number
 *   loss that is not finite is known on the host: that step returns the old state as it
 *   is, host leaves included, and runs nothing.
 *
 * ```ts
 * registerFusionTarget('tensorflow', createTfOpsTarget());
 * ```
 */
export function createTfOpsTarget(): FusionTarget {
  return {
    name: TF_OPS_TARGET,
    guardsNonFinite: true,
    check: checkStep,
    run: runStep,
  };
}

function checkStep(step: TracedStep): string | undefined {
  const backend = tf.backend();
  const tensors: tf.Tensor[] = [...step.params.flatMap((p) => [p.variable, p.grad]), ...step.leafTensors];
  if (isTensor(step.loss)) tensors.push(step.loss);
  for (const t of tensors) {
    if (t.isDisposed) return 'a tensor of the step was disposed';
    // tfjs would move it to the active backend, reading it back from its own
    if (tf.engine().state.tensorInfo.get(t.dataId)?.backend !== backend) return 'a tensor of the step lives on another backend';
  }
  for (const p of step.params) {
    if (p.variable.dtype !== 'float32' || p.grad.dtype !== 'float32') return `parameter '${p.name}' or its gradient is not float32`;
  }
  const traced = new Set(step.params.map((p) => p.name));
  for (const id of usedNodes(step)) {
    const node = step.graph.node(id);
    if ((node.op === 'param' || node.op === 'grad') && !traced.has(node.param!)) return `the step reads parameter '${node.param}', which has no gradient`;
  }
  return undefined;
}

/** An exact copy in new storage (tf.clone and tf.reshape share their source's storage). */
function copy(t: tf.Tensor): tf.Tensor {
  return t.dtype === 'bool' ? tf.logicalAnd(t, tf.scalar(true, 'bool')) : tf.mul(t, tf.scalar(1));
}

function runStep(step: TracedStep, options: FusionRunOptions): FusionRunResult {
  const { graph } = step;
  // A signal whose value is written to a rank-0 step leaf of its dtype is that leaf's tensor.
  const signalLeaf = step.signals.map((s) => {
    for (const [leaf, value] of step.writes) {
      const l = graph.leaves[leaf]!;
      if (value.id === s.value.id && l.dtype === s.dtype && (l.domain === 'step' || l.domain === 'param') && l.shape.length === 0) return leaf;
    }
    return undefined;
  });
  const written = [...step.writes.keys()];

  // A number loss that is not finite is known here: the step is skipped without running,
  // host leaves included; signals are the old state's or the previous step's.
  if (options.skipNonFinite && typeof step.loss === 'number' && !Number.isFinite(Math.fround(step.loss))) {
    const signals: Record<string, tf.Tensor> = {};
    step.signals.forEach((s, i) => {
      const leaf = signalLeaf[i];
      const previous = options.previousSignals?.[s.name as keyof Signals] as unknown;
      if (leaf !== undefined) signals[s.name] = step.leafTensors[leaf]!;
      else if (isTensor(previous)) signals[s.name] = previous;
    });
    return { state: step.state, signals: signals as Partial<Signals>, finite: tf.scalar(false, 'bool') };
  }

  const out = tf.tidy(() => {
    const values = evaluateGraph(step);
    const grads: Updates = Object.fromEntries(step.params.map((p) => [p.name, p.grad]));
    const ok = options.skipNonFinite ? allFinite(step.loss, grads) : undefined;
    const conditions = new Map<string, tf.Tensor>();

    // Every output gets storage of its own: none may share it with an input (a gradient,
    // the loss, an old state tensor, a parameter) or with another output.
    const taken = new Set<object>([...step.params.flatMap((p) => [p.variable.dataId, p.grad.dataId]), ...step.leafTensors.map((t) => t.dataId)]);
    if (isTensor(step.loss)) taken.add(step.loss.dataId);
    const own = (t: tf.Tensor) => {
      const mine = taken.has(t.dataId) ? copy(t) : t;
      taken.add(mine.dataId);
      return mine;
    };

    const writes = written.map((leaf) => {
      const info = graph.leaves[leaf]!;
      const value = step.writes.get(leaf)!;
      const old = step.leafTensors[leaf]!;
      let t = info.dtype === 'bool' ? values.bool(value.id) : values.float(value.id);
      // a value of a lower domain (a constant, a step value) fills the leaf's domain first
      t = values.broadcast(t, domainShape(step, { domain: info.domain!, param: info.param, length: info.shape[0] }));
      if (t.shape.join(',') !== old.shape.join(',')) t = tf.reshape(t, old.shape);
      return own(ok ? selectWhere(ok, t, old, conditions) : t);
    });

    const signals = step.signals.map((s, i) => {
      const leaf = signalLeaf[i];
      if (leaf !== undefined) return writes[written.indexOf(leaf)]!;
      const t = s.dtype === 'bool' ? values.bool(s.value.id) : values.float(s.value.id);
      const previous = options.previousSignals?.[s.name as keyof Signals] as unknown;
      if (ok && isTensor(previous) && previous.dtype === s.dtype && previous.rank === 0) return own(selectWhere(ok, t, previous, conditions));
      return own(t);
    });

    // Parameters last: every value that reads them is computed.
    const next = step.params.map((p) => {
      const updated = values.updated(p);
      return ok ? selectWhere(ok, updated, p.variable, conditions) : own(updated);
    });
    step.params.forEach((p, i) => p.variable.assign(next[i]!));

    return { writes, signals, ok: ok ? [ok] : [] };
  });

  const byLeaf = new Map(written.map((leaf, i) => [leaf, out.writes[i]!]));
  const state = step.newState((leaf, old) => byLeaf.get(leaf) ?? old);
  const signals: Record<string, tf.Tensor> = {};
  step.signals.forEach((s, i) => (signals[s.name] = out.signals[i]!));
  const ok = out.ok[0] as tf.Scalar | undefined;
  return ok ? { state, signals: signals as Partial<Signals>, finite: ok } : { state, signals: signals as Partial<Signals> };
}
