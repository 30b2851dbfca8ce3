import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { isTensor } from '../state-tree.js';
import type { GradientTransformation, Params, SignalName, StateValue, StepContext, UpdateResult, Updates } from '../types.js';
import { evaluateGraph } from './evaluate.js';
import { EmosensError } from '../errors.js';
import type { FusionContext, FusionForm, SymTree } from './form.js';
import { FusionDecline, Graph, isLeafRef, isSym, withGraph, type Sym } from './graph.js';

/**
 * A block's composed `update`, derived from its fused form: the form runs once over
 * symbolic values, and the graph it builds is evaluated with one tf op per node, in the
 * order the form wrote them (`evaluateGraph`). So a block writes its math once, with
 * `fx`, and both paths come from it: this one (the semantic reference, on any backend) and
 * every fusion target's pass.
 *
 * ```ts
 * const fusion: FusionForm = {
 *   update: (u, s) => ({ updates: Object.fromEntries(Object.entries(u).map(([k, g]) => [k, fx.mul(g, 2)])), state: s }),
 * };
 * const scaleByTwo = { name: 'scaleByTwo', init: () => ({}), update: composedUpdate('scaleByTwo', fusion), fusion };
 * ```
 */
export function composedUpdate<S extends StateValue>(name: string, form: FusionForm): GradientTransformation<S>['update'] {
  return (updates: Updates, state: S, params: Params, context: StepContext): UpdateResult<S> => {
    const graph = new Graph();
    try {
      return withGraph(graph, () => run(graph, name, form, updates, state, params, context)) as UpdateResult<S>;
    } catch (error) {
      // what declines fusion (a state of another layout, a rank the block cannot take) is an error here
      if (error instanceof FusionDecline) throw new EmosensError('INVALID_STATE', `${name}: ${error.reason}.`);
      throw error;
    }
  };
}

/** Marks the state a wrapped block returned on tensors (passed through as it is). */
const OPAQUE = Symbol('opaque state');
const isOpaque = (t: unknown): t is { [OPAQUE]: StateValue } => typeof t === 'object' && t !== null && OPAQUE in t;

function run(graph: Graph, name: string, form: FusionForm, updates: Updates, state: StateValue, params: Params, context: StepContext): UpdateResult<StateValue> {
  const paramSyms: Record<string, Sym> = {};
  for (const [key, p] of Object.entries(params)) {
    graph.addParam(key, p.shape);
    paramSyms[key] = graph.add({ op: 'param' }, 'elem', key);
  }
  const gradSyms: Record<string, Sym> = {};
  for (const [key, u] of Object.entries(updates)) {
    if (!graph.params.has(key)) graph.addParam(key, u.shape);
    gradSyms[key] = graph.add({ op: 'grad' }, 'elem', key);
  }
  const leaves: Tensor[] = [];
  const toSym = (v: StateValue, path: string): SymTree => {
    if (isTensor(v)) {
      const leaf = graph.addLeaf(v.shape, v.dtype === 'bool' ? 'bool' : 'float32', path);
      leaves.push(v);
      return { kind: 'leafRef', leaf: leaf.index };
    }
    if (Array.isArray(v)) return v.map((x, i) => toSym(x as StateValue, path ? `${path}/${i}` : String(i)));
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, SymTree> = {};
      for (const [k, x] of Object.entries(v)) out[k] = toSym(x as StateValue, path ? `${path}/${k}` : k);
      return out;
    }
    return v as SymTree;
  };
  const symState = toSym(state, '');

  let loss: Tensor | undefined;
  const inputs: Tensor[] = [];
  const values = new Map<number, Tensor | number>();
  const bindings = () => ({ grads: updates, params, leaves, ...(loss ? { loss } : {}), inputs });
  const tensorOf = (s: Sym, fixed: readonly number[], dtype: 'float32' | 'bool'): Tensor => {
    const shape = [...fixed];
    if (!values.has(s.id)) evaluateGraph(graph, bindings(), [s.id], values);
    const v = values.get(s.id)!;
    let t = typeof v === 'number' ? tf.scalar(v) : v;
    if (t.shape.join() !== shape.join()) t = t.size === tf.util.sizeFromShape(shape) ? tf.reshape(t, shape) : tf.mul(t, tf.ones(shape));
    return dtype === 'bool' ? tf.cast(t, 'bool') : t;
  };
  const shapeOf = (key: string) => (params[key] ?? updates[key]!).shape;
  const read = new Map<string, Sym>();
  const published: { name: SignalName; value: Sym; dtype: 'float32' | 'bool'; block: string }[] = [];
  const fusionContext: FusionContext = {
    loss(block) {
      loss ??= context.requireLoss(block);
      return graph.add({ op: 'loss' }, 'step');
    },
    publish(signal, value, block, dtype = 'float32') {
      published.push({ name: signal, value, dtype, block });
      read.set(signal, value);
    },
    read(signal, block) {
      let sym = read.get(signal);
      if (sym === undefined) {
        inputs.push(context.read(signal, block) as Tensor);
        sym = graph.add({ op: 'input', slot: inputs.length - 1 }, 'step');
        read.set(signal, sym);
      }
      return sym;
    },
    has: (signal) => read.has(signal) || context.has(signal),
    lossValue: (block) => context.lossValue(block),
    publishValue: (value, v, block) => context.publishValue(value, v, block),
    readValue: (value, block) => context.readValue(value, block),
    hasValue: (value) => context.hasValue(value),
    parameter: (key) => params[key]!,
    // a wrapped block without a fused form runs on tensors of the values so far
    eager(transform, innerUpdates, innerState, innerParams) {
      const u: Record<string, Tensor> = {};
      for (const [key, sym] of Object.entries(innerUpdates)) u[key] = tensorOf(sym, shapeOf(key), 'float32');
      const p: Record<string, Tensor> = {};
      for (const [key, sym] of Object.entries(innerParams)) p[key] = tensorOf(sym, shapeOf(key), 'float32');
      const unsym = (t: SymTree): StateValue => {
        if (isLeafRef(t)) return leaves[t.leaf]!;
        if (isSym(t)) throw new Error(`${name}: a wrapped block was handed a state value that is not a tensor yet`);
        if (Array.isArray(t)) return t.map(unsym);
        if (typeof t === 'object' && t !== null) return Object.fromEntries(Object.entries(t).map(([k, x]) => [k, unsym(x)]));
        return t as StateValue;
      };
      const r = transform.update(u, unsym(innerState), p, context);
      const out: Record<string, Sym> = {};
      for (const [key, t] of Object.entries(r.updates)) {
        inputs.push(t);
        out[key] = graph.add({ op: 'input', slot: inputs.length - 1 }, 'elem', key);
      }
      return { updates: out, state: { [OPAQUE]: r.state } as unknown as SymTree };
    },
  };

  const result = form.update(gradSyms, symState, paramSyms, fusionContext);

  const roots: number[] = [...Object.values(result.updates).map((s) => s.id), ...published.map((p) => p.value.id)];
  const collect = (t: SymTree): void => {
    if (isOpaque(t)) return;
    if (isSym(t)) roots.push(t.id);
    else if (Array.isArray(t)) t.forEach(collect);
    else if (typeof t === 'object' && t !== null && !isLeafRef(t)) Object.values(t).forEach(collect);
  };
  collect(result.state);
  evaluateGraph(graph, bindings(), roots, values);

  // a block that only listens hands the very same updates on
  const passthrough =
    Object.keys(result.updates).length === Object.keys(updates).length &&
    Object.entries(result.updates).every(([key, s]) => s.id === gradSyms[key]?.id);
  const out: Record<string, Tensor> = {};
  if (!passthrough) for (const [key, s] of Object.entries(result.updates)) out[key] = tensorOf(s, shapeOf(key), 'float32');
  const build = (neu: SymTree, old: SymTree): StateValue => {
    if (isOpaque(neu)) return neu[OPAQUE];
    if (isLeafRef(neu)) return leaves[neu.leaf]!;
    if (isSym(neu)) {
      const leaf = isLeafRef(old) ? graph.leaves[old.leaf]! : undefined;
      if (leaf === undefined) throw new Error(`${name}: the fused form put a value where the state has no tensor`);
      return tensorOf(neu, leaf.shape, leaf.dtype);
    }
    if (Array.isArray(neu)) return neu.map((x, i) => build(x, (old as SymTree[])[i]!));
    if (typeof neu === 'object' && neu !== null) {
      const o: Record<string, StateValue> = {};
      for (const [k, x] of Object.entries(neu)) o[k] = build(x, (old as Record<string, SymTree>)[k]!);
      return o;
    }
    return neu as StateValue;
  };
  const nextState = build(result.state, symState);
  for (const p of published) context.publish(p.name, tensorOf(p.value, [], p.dtype) as never, p.block);
  return { updates: passthrough ? updates : out, state: nextState };
}
