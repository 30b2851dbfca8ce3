import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { argsOf } from './schedule.js';
import type { Domain, Graph, Node } from './graph.js';

/** The tensors a graph's input nodes stand for. */
export interface GraphBindings {
  /** Each parameter's incoming update (`grad` nodes). */
  readonly grads: Readonly<Record<string, Tensor>>;
  /** Each parameter's value (`param` nodes). */
  readonly params: Readonly<Record<string, Tensor>>;
  /** State tensors by leaf index (`leaf` nodes). */
  readonly leaves: readonly Tensor[];
  /** The loss as a float32 scalar (`loss` node). */
  readonly loss?: Tensor;
  /** Step values from outside the graph by slot (`input` nodes: signals of a composed step). */
  readonly inputs: readonly Tensor[];
}

const BINARY: Record<string, (a: Tensor | number, b: Tensor | number) => Tensor> = {
  add: (a, b) => tf.add(a, b),
  sub: (a, b) => tf.sub(a, b),
  mul: (a, b) => tf.mul(a, b),
  div: (a, b) => tf.div(a, b),
  pow: (a, b) => tf.pow(a, b),
  min: (a, b) => tf.minimum(a, b),
  max: (a, b) => tf.maximum(a, b),
  gt: (a, b) => tf.cast(tf.greater(a, b), 'float32'),
  ge: (a, b) => tf.cast(tf.greaterEqual(a, b), 'float32'),
  lt: (a, b) => tf.cast(tf.less(a, b), 'float32'),
  le: (a, b) => tf.cast(tf.lessEqual(a, b), 'float32'),
  eq: (a, b) => tf.cast(tf.equal(a, b), 'float32'),
  and: (a, b) => tf.cast(tf.logicalAnd(tf.notEqual(a, 0), tf.notEqual(b, 0)), 'float32'),
  or: (a, b) => tf.cast(tf.logicalOr(tf.notEqual(a, 0), tf.notEqual(b, 0)), 'float32'),
};

const UNARY: Record<string, (a: Tensor) => Tensor> = {
  neg: (a) => tf.neg(a),
  abs: (a) => tf.abs(a),
  sqrt: (a) => tf.sqrt(a),
  exp: (a) => tf.exp(a),
  expm1: (a) => tf.expm1(a),
  log: (a) => tf.log(a),
  tanh: (a) => tf.tanh(a),
  // by comparisons: tfjs-backend-wasm's Sign returns 0 for tiny values
  sign: (a) => tf.sub(tf.cast(tf.greater(a, 0), 'float32'), tf.cast(tf.less(a, 0), 'float32')),
  not: (a) => tf.cast(tf.equal(a, 0), 'float32'),
};

/** A sum over `axes`, 0 over an empty axis (tfjs-backend-wasm's sum over one returns uninitialised memory). */
function sumOver(x: Tensor, axes: number[] | undefined, outShape: number[]): Tensor {
  if (x.size === 0) return tf.zeros(outShape);
  return tf.sum(x, axes);
}

/**
 * Evaluates the nodes `roots` need with one tf op each, in the graph's order (no folding,
 * no reassociation): the composed step of a fused form, op for op as its block would write
 * it with tf ops, on any backend and without a readback. Runs inside the caller's `tidy`.
 * Values have their domain's shape: `[]` per step or parameter, `[n]` per window slot,
 * `[d0]` per row, `[d1, ..., dn]` per column, the parameter's shape per element.
 */
export function evaluateGraph(
  graph: Graph,
  bindings: GraphBindings,
  roots: readonly number[],
  /** Values already evaluated (extended in place): to evaluate a graph in steps. */
  values: Map<number, Tensor | number> = new Map(),
): Map<number, Tensor | number> {
  const needed = new Set<number>();
  const stack = [...roots];
  while (stack.length) {
    const id = stack.pop()!;
    if (needed.has(id) || values.has(id)) continue;
    needed.add(id);
    stack.push(...argsOf(graph.node(id)));
  }
  // A value as an operand of an op whose result lives in `domain` (of `param`): rows of a
  // parameter meet columns and elements along axis 0.
  const operand = (id: number, domain: Domain): Tensor | number => {
    const v = values.get(id)!;
    const node = graph.node(id);
    if (typeof v === 'number' || node.domain !== 'row' || domain === 'row') return v;
    const rank = graph.param(node.param!).shape.length;
    return tf.reshape(v, [v.shape[0]!, ...Array.from({ length: rank - 1 }, () => 1)]);
  };
  for (const id of [...needed].sort((a, b) => a - b)) {
    const node = graph.node(id);
    values.set(id, evaluateNode(graph, node, bindings, (a) => operand(a, node.domain), values));
  }
  return values;
}

function evaluateNode(
  graph: Graph,
  node: Node,
  b: GraphBindings,
  arg: (id: number) => Tensor | number,
  values: ReadonlyMap<number, Tensor | number>,
): Tensor | number {
  const tensor = (v: Tensor | number): Tensor => (typeof v === 'number' ? tf.scalar(v) : v);
  switch (node.op) {
    case 'const':
      return node.value;
    case 'uniform':
      return graph.uniforms[node.slot]!;
    case 'loss':
      return b.loss!;
    case 'input':
      return b.inputs[node.slot]!;
    case 'grad':
      return b.grads[node.param!]!;
    case 'param':
      return b.params[node.param!]!;
    case 'leaf':
      return b.leaves[node.leaf]!;
    case 'select': {
      const [c, x, y] = node.args.map(arg) as [Tensor | number, Tensor | number, Tensor | number];
      const shape = tf.broadcast_util.assertAndGetBroadcastShape(
        tf.broadcast_util.assertAndGetBroadcastShape(tensor(c).shape, tensor(x).shape),
        tensor(y).shape,
      );
      // operands of one shape (times 1 keeps every value, -0 and NaN included): a broadcast
      // `where` would tile, which reads back on the cpu backend
      const full = (v: Tensor | number) => (tensor(v).shape.join() === shape.join() ? tensor(v) : tf.mul(tensor(v), tf.ones(shape)));
      // tfjs-backend-webgpu's Select takes rank <= 4: a higher rank selects the flat values
      const flat = (t: Tensor) => (shape.length > 4 ? tf.reshape(t, [-1]) : t);
      const out = tf.where(tf.cast(flat(full(c)), 'bool'), flat(full(x)), flat(full(y)));
      return shape.length > 4 ? tf.reshape(out, shape) : out;
    }
    case 'shiftIn': {
      const leaf = b.leaves[node.leaf]!;
      const n = leaf.shape[0]!;
      return tf.concat([tf.slice(leaf, [1], [n - 1]), tf.reshape(tensor(arg(node.args[0])), [1])]);
    }
    case 'sum': {
      const x = tensor(values.get(node.args[0]!)!);
      return sumOver(x, undefined, []);
    }
    case 'rowSum': {
      const x = tensor(values.get(node.args[0]!)!);
      return sumOver(x, Array.from({ length: x.rank - 1 }, (_, i) => i + 1), [x.shape[0]!]);
    }
    case 'colSum': {
      const x = tensor(values.get(node.args[0]!)!);
      return sumOver(x, [0], x.shape.slice(1));
    }
    case 'windowSum':
      return tf.sum(tensor(values.get(node.args[0]!)!));
    case 'sumParams': {
      const terms = node.args.map((a) => tensor(values.get(a)!));
      if (terms.length === 1) return terms[0]!;
      // tfjs-backend-webgpu's AddN returns garbage for 8 or more inputs: at most 7 at a
      // time, the running sum first in each (the same order, left to right)
      let total = tf.addN(terms.slice(0, 7));
      for (let i = 7; i < terms.length; i += 6) total = tf.addN([total, ...terms.slice(i, i + 6)]);
      return total;
    }
  }
  if (node.op in UNARY) return UNARY[node.op]!(tensor(arg(node.args[0])));
  if (node.op in BINARY) {
    const [x, y] = node.args.map(arg) as [Tensor | number, Tensor | number];
    if (typeof x === 'number' && typeof y === 'number') return BINARY[node.op]!(tf.scalar(x), y);
    return BINARY[node.op]!(x, y);
  }
  throw new Error(`evaluateGraph: no op '${(node as { op: string }).op}'`);
}
