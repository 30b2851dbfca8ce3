import * as tf from '@tensorflow/tfjs-core';
import { argsOf, type Domain, type Node, type TracedParam, type TracedStep } from '@emosens/core';
import { addForms, Coefficients, divideForm, foldCost, materialize, scaleForm, type LinearForm } from './linear-forms.js';
import { BINARY, DeviceValue, foldIdentity, UNARY, type BinaryOp, type Operands, type UnaryOp, type Value } from './op-table.js';

/**
 * The shape a value of `node` has as a tensor, so that values of different domains meet
 * with tf's own broadcasting: `step` and `param` values are scalars, a window is `[n]`,
 * an `elem` value has its parameter's shape, a `col` value `[d1, ..., dn]` (the trailing
 * dimensions, so it broadcasts against `elem` as is) and a `row` value `[d0, 1, ..., 1]`
 * (the parameter's rank, so it broadcasts against `elem` and, with a `col` value, makes one).
 */
export function domainShape(step: TracedStep, node: { readonly domain: Domain; readonly param?: string | undefined; readonly length?: number | undefined }): number[] {
  switch (node.domain) {
    case 'step':
    case 'param':
      return [];
    case 'window':
      return [node.length!];
    case 'elem':
      return [...step.graph.param(node.param!).shape];
    case 'col':
      return step.graph.param(node.param!).shape.slice(1);
    case 'row': {
      const shape = step.graph.param(node.param!).shape;
      return [shape[0]!, ...shape.slice(1).map(() => 1)];
    }
  }
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** The node ids of a step's outputs: parameter updates, state writes, signals. */
function outputIds(step: TracedStep): number[] {
  return [...step.params.map((p) => p.update.id), ...[...step.writes.values()].map((s) => s.id), ...step.signals.map((s) => s.value.id)];
}

/** The nodes a step's outputs (parameter updates, state writes, signals) need, in id order (args first). */
export function usedNodes(step: TracedStep): number[] {
  const used = new Set<number>();
  const stack = outputIds(step);
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (used.has(id)) continue;
    used.add(id);
    stack.push(...argsOf(step.graph.node(id)));
  }
  return [...used].sort((a, b) => a - b);
}

/** The values of one step's graph, as tensors in the shapes of {@link domainShape}. */
export interface GraphValues {
  /** A node's value as a float32 tensor. */
  float(id: number): tf.Tensor;
  /** A node's value as a bool tensor (`x != 0`). */
  bool(id: number): tf.Tensor;
  /** `t` (a float32 or bool tensor) broadcast to `shape`, bit for bit, without a `Tile`. */
  broadcast(t: tf.Tensor, shape: readonly number[]): tf.Tensor;
  /** A parameter's new value `p + update`, folded with the update's linear form (`p (1 - lr wd) + u (-lr)`). */
  updated(p: TracedParam): tf.Tensor;
}

/** Domains whose values are whole tensors of a parameter (what linear forms fold). */
const WIDE = new Set<Domain>(['elem', 'row', 'col']);

/**
 * Evaluates the nodes of a traced step that its outputs (parameter updates, state writes,
 * signals) need, in id order (ids are topological), each once at most, with tf ops. What
 * it folds:
 *
 * - values that depend only on constants, uniforms and a number loss are computed on the
 *   host in float32 and become scalar tensors only where a tensor op takes them;
 * - identities (`x * 1`, `x - 0`, `x and 1`, ...) launch nothing;
 * - sums and scalings of per-parameter tensors become linear forms (see `linear-forms.ts`),
 *   made into tensors only where a value is needed whole, so the scalars of a chain
 *   (learning rate, emotion factor, decay) multiply once per step instead of once per
 *   element; a form is folded into its consumer only when that is its one use.
 *
 * Call inside `tf.tidy`: every tensor made here is an intermediate.
 */
export function evaluateGraph(step: TracedStep): GraphValues {
  const { graph } = step;
  const values = new Map<number, Value>();
  const scalars = new Map<string, tf.Tensor>();
  const ones = new Map<string, tf.Tensor>();

  // One scalar tensor per host number and dtype per step (Map keys would merge 0 and -0).
  const scalarOf = (x: number, dtype: 'float32' | 'bool') => {
    const key = `${dtype}:${Object.is(x, -0) ? '-0' : String(x)}`;
    let t = scalars.get(key);
    if (t === undefined) {
      t = dtype === 'bool' ? tf.scalar(x !== 0, 'bool') : tf.scalar(x, 'float32');
      scalars.set(key, t);
    }
    return t;
  };
  const operands: Operands = {
    float: (v) => (typeof v === 'number' ? scalarOf(v, 'float32') : v.float()),
    bool: (v) => (typeof v === 'number' ? scalarOf(v, 'bool') : v.bool()),
  };
  // Broadcasting multiplies by ones (`x * 1` is exact, -0 and NaN included) or and-s with
  // true: tf.where and tf.broadcastTo would use Tile, which the cpu backend runs by reading
  // its input back (`readSync`). The ones are uploaded once per shape and step.
  const broadcast = (t: tf.Tensor, shape: readonly number[]): tf.Tensor => {
    if (sameShape(t.shape, shape)) return t;
    const key = `${t.dtype}:${shape.join(',')}`;
    let one = ones.get(key);
    if (one === undefined) {
      one = tf.ones([...shape], t.dtype === 'bool' ? 'bool' : 'float32');
      ones.set(key, one);
    }
    return t.dtype === 'bool' ? tf.logicalAnd(t, one) : tf.mul(t, one);
  };

  const paramIndex = new Map(step.params.map((p, i) => [p.name, i]));
  const traced = (node: Node) => {
    const i = paramIndex.get(node.param!);
    if (i === undefined) throw new Error(`tf-ops target: parameter '${node.param}' has no gradient this step`);
    return step.params[i]!;
  };
  const leafValue = (node: Node & { op: 'leaf' }): DeviceValue => {
    const info = graph.leaves[node.leaf]!;
    let t = step.leafTensors[node.leaf]!;
    const shape = domainShape(step, node);
    if (!sameShape(t.shape, shape)) t = tf.reshape(t, shape);
    return info.dtype === 'bool' ? DeviceValue.bool(t) : DeviceValue.float(t);
  };
  const loss = (): Value => {
    const l = step.loss;
    if (l === undefined) throw new Error('tf-ops target: the graph reads the loss, but the step has none');
    if (typeof l === 'number') return Math.fround(l);
    return DeviceValue.float(l.rank === 0 ? l : tf.reshape(l, []));
  };
  // A sum over no elements is 0: tfjs-wasm's Sum over an empty axis returns garbage.
  const sum = (x: tf.Tensor, axes: number[] | undefined, keepDims: boolean): tf.Tensor => {
    if (x.size > 0) return tf.sum(x, axes, keepDims);
    const reduced = new Set(axes ?? x.shape.map((_, i) => i));
    return tf.zeros(x.shape.flatMap((d, i) => (!reduced.has(i) ? [d] : keepDims ? [1] : [])));
  };
  const valueOf = (id: number) => values.get(id)!;

  // Linear forms of wide values, and how many consumers each node has (outputs count).
  const coefficients = new Coefficients(operands);
  const forms = new Map<number, LinearForm>();
  const used = usedNodes(step);
  const uses = new Map<number, number>();
  for (const id of [...used.flatMap((u) => argsOf(graph.node(u))), ...outputIds(step)]) uses.set(id, (uses.get(id) ?? 0) + 1);
  const isWide = (id: number) => typeof valueOf(id) !== 'number' && WIDE.has(graph.node(id).domain);
  // The form a consumer folds in: the node's own when it is the node's one use, else the node as one term.
  const formOf = (id: number): LinearForm => {
    const own = forms.get(id);
    return own !== undefined && uses.get(id) === 1 ? own : [{ base: valueOf(id) as DeviceValue, coef: 1 }];
  };
  // `x * s` or `x / s`: folded into x's factors when that launches at most one scalar op
  // (else x is made whole and becomes one term: one op over it, as unfolded).
  const folded = (id: number, op: 'mul' | 'div', s: Value): LinearForm => {
    const form = formOf(id);
    const use = foldCost(form, op, s, coefficients) <= 1 ? form : [{ base: valueOf(id) as DeviceValue, coef: 1 }];
    return op === 'mul' ? scaleForm(use, s, coefficients) : divideForm(use, s, coefficients);
  };
  // `(b c / d) * y` or `/ y` of one term and a whole tensor y: the factor moves out, `(b * y) c / d`.
  const carried = (id: number, other: number, op: 'mul' | 'div'): LinearForm | undefined => {
    const form = formOf(id);
    const t = form[0];
    if (form.length !== 1 || t === undefined || (t.divisor === undefined && Object.is(t.coef, 1))) return undefined;
    const y = valueOf(other) as DeviceValue;
    return [{ ...t, base: DeviceValue.lazy(() => (op === 'mul' ? tf.mul(t.base.float(), y.float()) : tf.div(t.base.float(), y.float()))) }];
  };
  const linearForm = (node: Node): LinearForm | undefined => {
    const [a, b] = argsOf(node) as [number, number];
    switch (node.op) {
      case 'neg':
        return isWide(a) ? folded(a, 'mul', -1) : undefined;
      case 'mul':
        if (isWide(a) && isWide(b)) return carried(a, b, 'mul') ?? carried(b, a, 'mul');
        if (isWide(a)) return folded(a, 'mul', valueOf(b));
        return isWide(b) ? folded(b, 'mul', valueOf(a)) : undefined;
      case 'div':
        if (isWide(a) && isWide(b)) return carried(a, b, 'div');
        return isWide(a) ? folded(a, 'div', valueOf(b)) : undefined;
      case 'add':
      case 'sub':
        if (!isWide(a) || !isWide(b)) return undefined;
        return addForms(formOf(a), node.op === 'add' ? formOf(b) : folded(b, 'mul', -1), coefficients);
      default:
        return undefined;
    }
  };
  // A value in its domain's full shape (a reduction's argument may have folded to a number).
  const full = (id: number) => broadcast(operands.float(valueOf(id)), domainShape(step, graph.node(id)));

  const evaluate = (node: Node): Value => {
    const form = WIDE.has(node.domain) ? linearForm(node) : undefined;
    if (form !== undefined) {
      forms.set(node.id, form);
      return form.length === 0 ? 0 : DeviceValue.lazy(() => materialize(form, operands, coefficients) as tf.Tensor);
    }
    const args = argsOf(node).map(valueOf);
    switch (node.op) {
      case 'const':
        return Math.fround(node.value);
      case 'uniform':
        return Math.fround(graph.uniforms[node.slot]!);
      case 'loss':
        return loss();
      case 'grad':
        return DeviceValue.float(traced(node).grad);
      case 'param':
        return DeviceValue.float(traced(node).variable);
      case 'leaf':
        return leafValue(node);
      case 'select': {
        const [c, a, b] = args as [Value, Value, Value];
        if (typeof c === 'number') return c !== 0 ? a : b;
        if (Object.is(a, b)) return a; // the same value either way (Object.is keeps -0 and 0 apart)
        const [tc, ta, tb] = [operands.bool(c), operands.float(a), operands.float(b)];
        const shape = tf.backend_util.assertAndGetBroadcastShape(tf.backend_util.assertAndGetBroadcastShape(tc.shape, ta.shape), tb.shape);
        // The Select kernel itself: tf.where would clone (Identity) operands of one shape.
        const inputs = { condition: broadcast(tc, shape), t: broadcast(ta, shape), e: broadcast(tb, shape) };
        return DeviceValue.float(tf.engine().runKernel(tf.Select, inputs));
      }
      case 'sum':
      case 'windowSum':
        return DeviceValue.float(sum(full(argsOf(node)[0]!), undefined, false));
      case 'rowSum': {
        const x = full(argsOf(node)[0]!);
        return DeviceValue.float(sum(x, x.shape.map((_, i) => i).slice(1), true));
      }
      case 'colSum':
        return DeviceValue.float(sum(full(argsOf(node)[0]!), [0], false));
      case 'sumParams': {
        const xs = args.map((a) => operands.float(a));
        return DeviceValue.float(xs.length === 1 ? xs[0]! : tf.addN(xs));
      }
      case 'shiftIn': {
        const window = step.leafTensors[node.leaf]!;
        const n = window.shape[0]!;
        const last = tf.reshape(operands.float(args[0]!), [1]);
        const old = graph.leaves[node.leaf]!.dtype === 'bool' ? tf.cast(window, 'float32') : window;
        return DeviceValue.float(n === 1 ? last : tf.concat([tf.slice(old, [1], [n - 1]), last]));
      }
    }
    if (node.op in UNARY) {
      const rule = UNARY[node.op as UnaryOp];
      const [a] = args as [Value];
      return typeof a === 'number' ? rule.host(a) : rule.device(operands, a);
    }
    if (node.op in BINARY) {
      const op = node.op as BinaryOp;
      const [a, b] = args as [Value, Value];
      if (typeof a === 'number' && typeof b === 'number') return BINARY[op].host(a, b);
      return foldIdentity(op, a, b) ?? BINARY[op].device(operands, a, b);
    }
    throw new Error(`tf-ops target: no rule for op '${node.op}'`);
  };

  for (const id of used) values.set(id, evaluate(graph.node(id)));

  const paramNodes = new Map(used.filter((id) => graph.node(id).op === 'param').map((id) => [graph.node(id).param!, valueOf(id) as DeviceValue]));
  const updated = (p: TracedParam): tf.Tensor => {
    const u = p.update.id;
    if (!isWide(u)) return tf.add(p.variable, operands.float(valueOf(u)));
    const self = paramNodes.get(p.name) ?? DeviceValue.float(p.variable);
    const next = materialize(addForms([{ base: self, coef: 1 }], formOf(u), coefficients), operands, coefficients);
    return broadcast(typeof next === 'number' ? scalarOf(next, 'float32') : next, p.variable.shape);
  };

  return {
    float: (id) => operands.float(valueOf(id)),
    bool: (id) => operands.bool(valueOf(id)),
    broadcast,
    updated,
  };
}
