import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import { createHostValues, missingLoss, readLossNumber } from '../context.js';
import { EmosensError } from '../errors.js';
import { isTensor } from '../state-tree.js';
import type { GradientTransformation, Loss, SignalName, StateValue, Updates } from '../types.js';
import { fusionBlocker, type FusionContext, type FusionForm, type SymTree } from './form.js';
import { FusionDecline, Graph, isLeafRef, isSym, placeLeaf, withGraph, type LeafInfo, type Sym } from './graph.js';

/** One parameter of a traced step: its variable, gradient and the symbolic update of the chain. */
export interface TracedParam {
  readonly name: string;
  readonly variable: Variable;
  readonly grad: Tensor;
  /** The update added to the parameter (`p <- p + update`). */
  readonly update: Sym;
}

/** A signal of a traced step. */
export interface TracedSignal {
  readonly name: SignalName;
  readonly value: Sym;
  readonly dtype: 'float32' | 'bool';
}

/**
 * One step of a transform, traced through its fused form: the graph, what it reads and
 * what it writes. Every backend target runs this, and nothing else.
 */
export interface TracedStep {
  readonly graph: Graph;
  /** The parameters that have a gradient this step, in the gradients' order. */
  readonly params: readonly TracedParam[];
  /** The state tensors read or written, by leaf index (see `graph.leaves`). */
  readonly leafTensors: readonly Tensor[];
  /** New values of state tensors, by leaf index; other leaves keep their values. */
  readonly writes: ReadonlyMap<number, Sym>;
  readonly signals: readonly TracedSignal[];
  readonly loss: Loss | undefined;
  /** The state the step started from (what a skipped step returns). */
  readonly state: StateValue;
  /**
   * The new state: the old layout, each written tensor given by `tensorOf(leaf)` (the
   * same tensor when written in place), host values (numbers) as the form returned them.
   */
  newState(tensorOf: (leaf: number, old: Tensor) => Tensor): StateValue;
  /** Everything that shapes the program (not uniform values): targets cache compiled code by it. */
  readonly key: string;
}

/** A traced step, or why the transform cannot be traced for these arguments. */
export type TraceResult = { readonly step: TracedStep } | { readonly decline: string };

/**
 * Traces one step of `transform` through its fused form. Declines (never throws) when
 * the transform or one of its blocks has no fused form or the arguments do not fit one
 * (e.g. two state leaves share a tensor); throws the composed path's own errors
 * (`MISSING_LOSS`, `MISSING_SIGNAL`, ...) so that both paths refuse the same steps.
 */
export function traceStep(
  transform: GradientTransformation<StateValue>,
  params: Readonly<Record<string, Variable>>,
  state: StateValue,
  grads: Updates,
  loss: Loss | undefined,
): TraceResult {
  const blocked = fusionBlocker(transform.name, transform.fusion);
  if (blocked !== undefined) return { decline: blocked };
  const form = transform.fusion as FusionForm;
  try {
    const inputs = collectInputs(params, state, grads, loss);
    const cached = traces.get(form);
    if (cached !== undefined && cached.signature === inputs.signature) return { step: cached.bind(inputs.leafTensors, params, state, grads, loss) };
    const graph = new Graph();
    const traced = withGraph(graph, () => trace(graph, form, params, state, grads, loss, inputs.leafTensors));
    // A program without host values (uniforms, the loss as a number, values read between
    // blocks) depends on nothing but the signature: the next step with the same signature rebinds it instead of tracing again.
    if (graph.uniforms.length === 0 && !traced.readsHostValues) traces.set(form, { signature: inputs.signature, bind: traced.bind });
    else traces.delete(form);
    return { step: traced.bind(inputs.leafTensors, params, state, grads, loss) };
  } catch (error) {
    if (error instanceof FusionDecline) return { decline: error.reason };
    throw error;
  }
}

/** A traced program, to be bound to one step's tensors. */
type Bind = (
  leafTensors: readonly Tensor[],
  params: Readonly<Record<string, Variable>>,
  state: StateValue,
  grads: Updates,
  loss: Loss | undefined,
) => TracedStep;

/** The last program traced for each fused form, with the signature of the inputs it was traced for. */
const traces = new WeakMap<FusionForm, { readonly signature: string; readonly bind: Bind }>();

/**
 * The state's tensors in tracing order, after the checks that decline a step (storage shared
 * between parameters, gradients and state leaves, a disposed or non-float leaf), and a
 * signature of everything a trace may depend on: parameter names and shapes, which have
 * gradients, the state's layout with its leaves' shapes and dtypes and its host values, and
 * whether the loss is a number, a tensor or absent.
 */
function collectInputs(
  params: Readonly<Record<string, Variable>>,
  state: StateValue,
  grads: Updates,
  loss: Loss | undefined,
): { leafTensors: Tensor[]; signature: string } {
  const seen = new Map<object, string>();
  const parts: string[] = [loss === undefined ? 'u' : typeof loss === 'number' ? 'n' : 't'];
  for (const [name, p] of Object.entries(params)) {
    const other = seen.get(p.dataId);
    if (other !== undefined) throw new FusionDecline(`parameter '${name}' shares its storage with ${other}`);
    seen.set(p.dataId, `parameter '${name}'`);
    parts.push(`p${JSON.stringify(name)}${p.shape.join('x')}`);
  }
  for (const [name, g] of Object.entries(grads)) {
    const other = seen.get(g.dataId);
    if (other !== undefined && other.startsWith('parameter')) throw new FusionDecline(`the gradient of '${name}' shares its storage with ${other}`);
    seen.set(g.dataId, `the gradient of '${name}'`);
    parts.push(`g${JSON.stringify(name)}`);
  }
  const leafTensors: Tensor[] = [];
  const walk = (v: StateValue, path: string): void => {
    if (isTensor(v)) {
      const other = seen.get(v.dataId);
      if (other !== undefined) throw new FusionDecline(`state '${path}' shares its storage with ${other}`);
      seen.set(v.dataId, `state '${path}'`);
      if (v.isDisposed) throw new FusionDecline(`state '${path}' was disposed`);
      if (v.dtype !== 'float32' && v.dtype !== 'bool') throw new FusionDecline(`state '${path}' has dtype ${v.dtype}`);
      leafTensors.push(v);
      parts.push(`t${JSON.stringify(path)}${v.dtype}${v.shape.join('x')}`);
    } else if (Array.isArray(v)) {
      parts.push(`[${v.length}`);
      v.forEach((x, i) => walk(x as StateValue, join(path, String(i))));
    } else if (typeof v === 'object' && v !== null) {
      parts.push(`{${Object.keys(v).length}`);
      for (const [k, x] of Object.entries(v)) walk(x as StateValue, join(path, k));
    } else {
      parts.push(`h${JSON.stringify(path)}${typeof v}:${String(v)}`);
    }
  };
  walk(state, '');
  return { leafTensors, signature: parts.join('|') };
}

function trace(
  graph: Graph,
  form: FusionForm,
  params: Readonly<Record<string, Variable>>,
  state: StateValue,
  grads: Updates,
  loss: Loss | undefined,
  leafTensors: readonly Tensor[],
): { bind: Bind; readsHostValues: boolean } {
  const paramSyms: Record<string, Sym> = {};
  for (const [name, p] of Object.entries(params)) {
    graph.addParam(name, p.shape);
    paramSyms[name] = graph.add({ op: 'param' }, 'elem', name);
  }
  const gradSyms: Record<string, Sym> = {};
  for (const name of Object.keys(grads)) gradSyms[name] = graph.add({ op: 'grad' }, 'elem', name);

  // The state with its tensors as leaves (in collectInputs' order, which checked them).
  const toSym = (v: StateValue, path: string): SymTree => {
    if (isTensor(v)) {
      const leaf = graph.addLeaf(v.shape, v.dtype as 'float32' | 'bool', path);
      if (leafTensors[leaf.index] !== v) throw new Error(`traceStep: leaf ${leaf.index} ('${path}') out of order`);
      return { kind: 'leafRef', leaf: leaf.index };
    }
    if (Array.isArray(v)) return v.map((x, i) => toSym(x as StateValue, join(path, String(i))));
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, SymTree> = {};
      for (const [k, x] of Object.entries(v)) out[k] = toSym(x as StateValue, join(path, k));
      return out;
    }
    return v as SymTree;
  };
  const symState = toSym(state, '');

  const signals: TracedSignal[] = [];
  const publishers = new Map<string, string>();
  let lossSym: Sym | undefined;
  let lossNumber: number | undefined;
  const hostValues = createHostValues();
  let readsHostValue = false;
  const context: FusionContext = {
    ...hostValues,
    // a program built from host values holds them: it must not be rebound on a later step
    readValue(name, block) {
      readsHostValue = true;
      return hostValues.readValue(name, block);
    },
    lossValue(block) {
      if (loss === undefined) throw missingLoss(block);
      return (lossNumber ??= typeof loss === 'number' ? loss : readLossNumber(loss, block));
    },
    loss(block) {
      if (loss === undefined) throw missingLoss(block);
      return (lossSym ??= graph.add({ op: 'loss' }, 'step'));
    },
    publish(name, value, block, dtype = 'float32') {
      const previous = publishers.get(name);
      if (previous !== undefined) {
        throw new EmosensError(
          'DUPLICATE_SIGNAL',
          `Block '${block}' published signal '${name}', which block '${previous}' already published this step. Each signal is published by one block per step.`,
        );
      }
      if (value.domain !== 'step') throw new FusionDecline(`signal '${name}' is a ${value.domain} value, not a step value`);
      publishers.set(name, block);
      signals.push({ name, value, dtype });
    },
    read(name, block) {
      const found = signals.find((s) => s.name === name);
      if (found === undefined) {
        const known = signals.map((s) => s.name);
        throw new EmosensError(
          'MISSING_SIGNAL',
          `Block '${block}' reads signal '${name}', but no earlier block in the chain published it this step ` +
            `(published so far: ${known.length ? known.join(', ') : 'none'}). Put the block that produces '${name}' before '${block}' in the chain.`,
        );
      }
      return found.value;
    },
    has: (name) => publishers.has(name),
    parameter(name) {
      const p = params[name];
      if (p === undefined) throw new FusionDecline(`no parameter '${name}' in this step`);
      return p;
    },
  };

  const result = form.update(gradSyms, symState, paramSyms, context);

  const updates: { name: string; update: Sym }[] = [];
  for (const name of Object.keys(grads)) {
    const update = result.updates[name];
    if (!isSym(update)) throw new FusionDecline(`the fused form returned no update for parameter '${name}'`);
    if (update.param !== undefined && update.param !== name) throw new FusionDecline(`the update of '${name}' belongs to parameter '${update.param}'`);
    if (update.domain === 'window') throw new FusionDecline(`the update of '${name}' is a window value`);
    updates.push({ name, update });
  }

  // Match the returned state against the old one: a Sym at a tensor leaf is a write.
  const writes = new Map<number, Sym>();
  const check = (old: SymTree, neu: SymTree, path: string): void => {
    if (isLeafRef(old)) {
      if (isLeafRef(neu)) {
        if (neu.leaf !== old.leaf) throw new FusionDecline(`state '${path}' was replaced by another state tensor`);
        return;
      }
      if (!isSym(neu)) throw new FusionDecline(`state '${path}' (a tensor) became a ${typeof neu}`);
      placeWrite(graph, graph.leaves[old.leaf]!, neu);
      writes.set(old.leaf, neu);
      return;
    }
    if (isSym(neu) || isLeafRef(neu)) throw new FusionDecline(`state '${path}' is not a tensor, but the fused form returned one`);
    if (Array.isArray(old)) {
      if (!Array.isArray(neu) || neu.length !== old.length) throw new FusionDecline(`state '${path}' changed its layout`);
      old.forEach((o, i) => check(o as SymTree, (neu as SymTree[])[i]!, join(path, String(i))));
      return;
    }
    if (typeof old === 'object' && old !== null) {
      if (typeof neu !== 'object' || neu === null || Array.isArray(neu)) throw new FusionDecline(`state '${path}' changed its layout`);
      const keys = Object.keys(old);
      const newKeys = Object.keys(neu);
      if (keys.length !== newKeys.length || newKeys.some((k) => !(k in old))) throw new FusionDecline(`state '${path}' changed its keys`);
      for (const k of keys) check((old as Record<string, SymTree>)[k]!, (neu as Record<string, SymTree>)[k]!, join(path, k));
      return;
    }
    if (typeof neu !== typeof old) throw new FusionDecline(`state '${path}' changed from ${typeof old} to ${typeof neu}`);
  };
  check(symState, result.state, '');

  const newStateOf = (tensors: readonly Tensor[]) => (tensorOf: (leaf: number, old: Tensor) => Tensor): StateValue => {
    const build = (neu: SymTree, old: SymTree): StateValue => {
      if (isLeafRef(old)) return tensorOf(old.leaf, tensors[old.leaf]!);
      if (Array.isArray(neu)) return neu.map((x, i) => build(x, (old as SymTree[])[i]!));
      if (typeof neu === 'object' && neu !== null) {
        const out: Record<string, StateValue> = {};
        for (const [k, x] of Object.entries(neu)) out[k] = build(x, (old as Record<string, SymTree>)[k]!);
        return out;
      }
      return neu as StateValue;
    };
    return build(result.state, symState);
  };

  const key = [
    graph.nodeKeys.join(';'),
    JSON.stringify([...graph.params].map(([name, info]) => [name, info.shape])),
    JSON.stringify(graph.leaves.map((l) => [l.shape, l.dtype, l.domain ?? null, l.param ?? null])),
    JSON.stringify(updates.map((t) => [t.name, t.update.id])),
    [...writes].map(([leaf, s]) => `${leaf}:${s.id}`).join(','),
    signals.map((s) => `${s.name}:${s.value.id}:${s.dtype}`).join(','),
  ].join('#');
  const bind: Bind = (tensors, ps, st, gs, l) => ({
    graph,
    params: updates.map(({ name, update }) => ({ name, variable: ps[name]!, grad: gs[name]!, update })),
    leafTensors: tensors,
    writes,
    signals,
    loss: l,
    state: st,
    newState: newStateOf(tensors),
    key,
  });
  return { bind, readsHostValues: lossNumber !== undefined || readsHostValue };
}

function join(path: string, key: string): string {
  return path ? `${path}/${key}` : key;
}

/** A write of `value` into `leaf`: the leaf takes the value's domain when it was not read, and its shape must fit. */
function placeWrite(graph: Graph, leaf: LeafInfo, value: Sym): void {
  if (leaf.domain !== undefined) {
    const j = graph.join(graph.where(value), { domain: leaf.domain, param: leaf.param, length: leaf.domain === 'window' ? leaf.shape[0] : undefined }, 'write');
    if (j.domain !== leaf.domain || j.param !== leaf.param) {
      throw new FusionDecline(`state '${leaf.path}' (a ${leaf.domain} value) was given a ${value.domain} value`);
    }
    return;
  }
  const size = leaf.shape.reduce((a, b) => a * b, 1);
  const info = value.param !== undefined ? graph.param(value.param) : undefined;
  const fits: Record<typeof value.domain, boolean> = {
    step: size === 1,
    param: size === 1,
    window: leaf.shape.length === 1 && leaf.shape[0] === graph.where(value).length,
    elem: info !== undefined && leaf.shape.length === info.shape.length && leaf.shape.every((d, i) => d === info.shape[i]),
    row: info?.rows !== undefined && leaf.shape.length === 1 && leaf.shape[0] === info.rows,
    col: info?.rows !== undefined && size === info.cols && leaf.shape.length === info.shape.length - 1,
  };
  if (!fits[value.domain]) throw new FusionDecline(`state '${leaf.path}' of shape [${leaf.shape.join(', ')}] cannot hold a ${value.domain} value`);
  placeLeaf(leaf, value.domain, value.param);
}
