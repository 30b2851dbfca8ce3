import { EmosensError } from '../errors.js';

/**
 * Where a value of a fused step lives, i.e. how many copies of it one step computes:
 *
 * - `step`: one scalar per step (the emotion scalar, a step count, a learning rate);
 * - `window`: a short per-step vector (the emotion history), one entry per slot;
 * - `param`: one scalar per parameter (a norm, a kept-entry count, the shadow's flag);
 * - `row`, `col`: one value per row / column of a parameter of rank >= 2 seen as
 *   `[d0, d1*...*dn]` (factored second moments);
 * - `elem`: one value per element of a parameter.
 *
 * Values combine upward for free (`step` broadcasts into `elem`; `row` and `col` meet in
 * `elem`); going down needs a reduction (`sum`, `rowSum`, `colSum`, `sumParams`), which is
 * what splits a step into passes.
 */
export type Domain = 'step' | 'window' | 'param' | 'row' | 'col' | 'elem';

/** Elementwise operations with one argument. */
export type UnaryOp = 'neg' | 'abs' | 'sqrt' | 'exp' | 'expm1' | 'log' | 'tanh' | 'sign' | 'not';
/** Elementwise operations with two arguments (comparisons and `and`/`or` give 0 or 1). */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'min' | 'max' | 'gt' | 'ge' | 'lt' | 'le' | 'eq' | 'and' | 'or';
/** Reductions: each moves a value one domain down and ends a pass. */
export type ReduceOp = 'sum' | 'rowSum' | 'colSum' | 'sumParams' | 'windowSum';

/** A node of a fused step's graph. `args` are node ids, always smaller than the node's own. */
export type NodeDef =
  | { readonly op: 'const'; readonly value: number }
  /** A per-step value computed on the host (a schedule's learning rate): varies without changing the program. */
  | { readonly op: 'uniform'; readonly slot: number }
  | { readonly op: 'loss' }
  /** A step value from outside the graph (a signal read by a block run on its own, composed). */
  | { readonly op: 'input'; readonly slot: number }
  /** The incoming update (the gradient) of a parameter. */
  | { readonly op: 'grad' }
  /** A parameter's value before the step. */
  | { readonly op: 'param' }
  /** A state tensor's value before the step. */
  | { readonly op: 'leaf'; readonly leaf: number }
  | { readonly op: UnaryOp; readonly args: readonly [number] }
  | { readonly op: BinaryOp; readonly args: readonly [number, number] }
  | { readonly op: 'select'; readonly args: readonly [number, number, number] }
  | { readonly op: ReduceOp; readonly args: readonly number[] }
  /** A window shifted by one slot with `args[0]` (a step value) appended: slot k reads leaf slot k+1. */
  | { readonly op: 'shiftIn'; readonly leaf: number; readonly args: readonly [number] };

/** A node together with where it lives. */
export type Node = NodeDef & {
  readonly id: number;
  readonly domain: Domain;
  /** The parameter a `param`, `row`, `col` or `elem` value belongs to. */
  readonly param?: string;
  /** For `window` values: the window's length. */
  readonly length?: number;
};

/**
 * A symbolic value of a fused step: what a block's fused form computes with instead of
 * tensors. Made only through {@link fx} (or a {@link FusionContext}); arithmetic on it
 * builds a graph that each backend target renders (JavaScript over typed arrays, WGSL,
 * tf ops) without knowing which block wrote it.
 */
export interface Sym {
  readonly kind: 'sym';
  readonly id: number;
  readonly domain: Domain;
  readonly param: string | undefined;
}

/** A parameter's shape as the graph sees it. */
export interface ParamInfo {
  readonly shape: readonly number[];
  readonly size: number;
  /** `d0` for rank >= 2 (the row count), else undefined. */
  readonly rows: number | undefined;
  /** `d1*...*dn` for rank >= 2 (the column count), else undefined. */
  readonly cols: number | undefined;
}

/** A state tensor a fused step reads or writes, as the graph sees it. */
export interface LeafInfo {
  readonly index: number;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'bool';
  /** Where its path sits in the state, e.g. `step/direction/mu/w` (for error messages). */
  readonly path: string;
  /** The domain it was read or written in (set by the first read or write). */
  domain?: Domain;
  param?: string;
}

const RANK: Record<Domain, number> = { step: 0, window: 1, param: 1, row: 2, col: 2, elem: 3 };

/** Why a chain cannot be traced: caught by the tracer and reported as the reason fusion declined. */
export class FusionDecline extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'FusionDecline';
  }
}

/**
 * The graph of one fused step: nodes, deduplicated by structure (the same expression
 * built twice is one node, so a step value that every parameter's trace uses is computed
 * once), the parameters' shapes and the state tensors read or written.
 */
export class Graph {
  readonly nodes: Node[] = [];
  readonly params = new Map<string, ParamInfo>();
  readonly leaves: LeafInfo[] = [];
  readonly uniforms: number[] = [];
  private readonly byKey = new Map<string, Node>();
  private readonly keys: string[] = [];

  addParam(name: string, shape: readonly number[]): void {
    const size = shape.reduce((a, b) => a * b, 1);
    const rank2 = shape.length >= 2;
    this.params.set(name, {
      shape: [...shape],
      size,
      rows: rank2 ? shape[0]! : undefined,
      cols: rank2 ? shape.slice(1).reduce((a, b) => a * b, 1) : undefined,
    });
  }

  param(name: string): ParamInfo {
    const info = this.params.get(name);
    if (info === undefined) throw new FusionDecline(`no parameter '${name}' in this step`);
    return info;
  }

  addLeaf(shape: readonly number[], dtype: 'float32' | 'bool', path: string): LeafInfo {
    const leaf: LeafInfo = { index: this.leaves.length, shape: [...shape], dtype, path };
    this.leaves.push(leaf);
    return leaf;
  }

  node(id: number): Node {
    return this.nodes[id]!;
  }

  sym(node: Node): Sym {
    return { kind: 'sym', id: node.id, domain: node.domain, param: node.param };
  }

  /** Adds a node (or finds the same one). */
  add(def: NodeDef, domain: Domain, param?: string, length?: number): Sym {
    const d = def as { op: string; args?: readonly number[]; value?: number; slot?: number; leaf?: number };
    // Structural key: everything that defines the node (a constant by its exact bits, so -0 and NaN stay apart).
    const extra = d.op === 'const' ? (Object.is(d.value, -0) ? '-0' : String(d.value)) : d.op === 'uniform' || d.op === 'input' ? String(d.slot) : d.leaf !== undefined ? String(d.leaf) : '';
    const key = `${d.op}|${d.args?.join(',') ?? ''}|${extra}|${domain}|${param ?? ''}|${length ?? ''}`;
    let node = this.byKey.get(key);
    if (node === undefined) {
      node = { ...def, id: this.nodes.length, domain, ...(param !== undefined ? { param } : {}), ...(length !== undefined ? { length } : {}) } as Node;
      this.nodes.push(node);
      this.byKey.set(key, node);
      this.keys.push(key);
    }
    return this.sym(node);
  }

  /** The structural keys of the nodes, in id order (what a program's cache key is made of). */
  get nodeKeys(): readonly string[] {
    return this.keys;
  }

  /** Where a value lives: its domain, parameter and (for windows) length. */
  where(a: Sym): Where {
    return { domain: a.domain, param: a.param, length: this.node(a.id).length };
  }

  /** The place where `a` and `b` meet (the higher domain; `row` with `col` is `elem`). */
  join(a: Where, b: Where, op: string): Where {
    const pa = a.param;
    const pb = b.param;
    if (pa !== undefined && pb !== undefined && pa !== pb) {
      throw new FusionDecline(`'${op}' combines values of two parameters ('${pa}' and '${pb}') without a reduction`);
    }
    const param = pa ?? pb;
    const perParam = (d: Domain) => d !== 'step' && d !== 'window';
    if ((a.domain === 'window' && perParam(b.domain)) || (b.domain === 'window' && perParam(a.domain))) {
      throw new FusionDecline(`'${op}' combines a window with a per-parameter value`);
    }
    if (a.length !== undefined && b.length !== undefined && a.length !== b.length) {
      throw new FusionDecline(`'${op}' combines windows of lengths ${a.length} and ${b.length}`);
    }
    const length = a.length ?? b.length;
    if ((a.domain === 'row' && b.domain === 'col') || (a.domain === 'col' && b.domain === 'row')) return { domain: 'elem', param, length };
    return { domain: RANK[a.domain] >= RANK[b.domain] ? a.domain : b.domain, param, length };
  }
}

/** Where a value lives. */
export interface Where {
  readonly domain: Domain;
  readonly param: string | undefined;
  readonly length: number | undefined;
}

let active: Graph | undefined;

/** Runs `fn` with `graph` as the graph that {@link fx} builds into. */
export function withGraph<T>(graph: Graph, fn: () => T): T {
  const previous = active;
  active = graph;
  try {
    return fn();
  } finally {
    active = previous;
  }
}

function graph(): Graph {
  if (active === undefined) {
    throw new EmosensError('INVALID_STATE', 'fx: symbolic values can only be built while a fused step is traced (inside a fusion form).');
  }
  return active;
}

/**
 * A state tensor as a fused form sees it: read it with {@link fx.elem}, {@link fx.row},
 * {@link fx.col}, {@link fx.paramScalar}, {@link fx.step} or {@link fx.window}, which say
 * which domain it lives in; return it unchanged in the new state to leave it as it is.
 */
export interface LeafRef {
  readonly kind: 'leafRef';
  readonly leaf: number;
}

export function isLeafRef(v: unknown): v is LeafRef {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'leafRef';
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Records that leaf `info` lives in `domain` (of `param`), or declines when it was placed elsewhere. */
export function placeLeaf(info: LeafInfo, domain: Domain, param: string | undefined): void {
  if (info.domain === undefined) {
    info.domain = domain;
    if (param !== undefined) info.param = param;
    return;
  }
  if (info.domain !== domain || info.param !== param) {
    throw new FusionDecline(`state '${info.path}' is used both as a ${info.domain} and a ${domain} value`);
  }
}

function readLeaf(ref: LeafRef, domain: Domain, param: string | undefined, expected: (info: LeafInfo) => string | undefined): Sym {
  if (!isLeafRef(ref)) throw new FusionDecline(`expected a state tensor, got ${ref === undefined ? 'undefined' : typeof ref} (the state does not have the layout its block expects)`);
  const g = graph();
  const info = g.leaves[ref.leaf]!;
  const problem = expected(info);
  if (problem !== undefined) throw new FusionDecline(`state '${info.path}' has shape [${info.shape.join(', ')}]; ${problem}`);
  placeLeaf(info, domain, param);
  return g.add({ op: 'leaf', leaf: ref.leaf }, domain, param, domain === 'window' ? info.shape[0] : undefined);
}

/** A symbolic value or a plain number (a constant). */
export type SymLike = Sym | number;

export function isSym(v: unknown): v is Sym {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'sym';
}

function lift(v: SymLike): Sym {
  if (isSym(v)) return v;
  if (typeof v !== 'number') throw new FusionDecline(`expected a symbolic value or a number, got ${typeof v}`);
  return graph().add({ op: 'const', value: v }, 'step');
}

function unary(op: UnaryOp, a: SymLike): Sym {
  const x = lift(a);
  const g = graph();
  const w = g.where(x);
  return g.add({ op, args: [x.id] }, w.domain, w.param, w.length);
}

function binary(op: BinaryOp, a: SymLike, b: SymLike): Sym {
  const x = lift(a);
  const y = lift(b);
  const g = graph();
  const j = g.join(g.where(x), g.where(y), op);
  return g.add({ op, args: [x.id, y.id] }, j.domain, j.param, j.length);
}

function paramOf(x: Sym, op: string): string {
  if (x.param === undefined) throw new FusionDecline(`'${op}' needs a per-parameter value, got a ${x.domain} value`);
  return x.param;
}

/**
 * The operations of fused forms: the same math a block's composed `update` does with tf
 * ops, on symbolic values. Numbers are constants. Comparisons give 0 or 1.
 */
export const fx = {
  const: (value: number): Sym => lift(value),
  add: (a: SymLike, b: SymLike) => binary('add', a, b),
  sub: (a: SymLike, b: SymLike) => binary('sub', a, b),
  mul: (a: SymLike, b: SymLike) => binary('mul', a, b),
  div: (a: SymLike, b: SymLike) => binary('div', a, b),
  pow: (a: SymLike, b: SymLike) => binary('pow', a, b),
  min: (a: SymLike, b: SymLike) => binary('min', a, b),
  max: (a: SymLike, b: SymLike) => binary('max', a, b),
  gt: (a: SymLike, b: SymLike) => binary('gt', a, b),
  ge: (a: SymLike, b: SymLike) => binary('ge', a, b),
  lt: (a: SymLike, b: SymLike) => binary('lt', a, b),
  le: (a: SymLike, b: SymLike) => binary('le', a, b),
  eq: (a: SymLike, b: SymLike) => binary('eq', a, b),
  and: (a: SymLike, b: SymLike) => binary('and', a, b),
  or: (a: SymLike, b: SymLike) => binary('or', a, b),
  neg: (a: SymLike) => unary('neg', a),
  abs: (a: SymLike) => unary('abs', a),
  sqrt: (a: SymLike) => unary('sqrt', a),
  square: (a: SymLike) => binary('mul', a, a),
  exp: (a: SymLike) => unary('exp', a),
  expm1: (a: SymLike) => unary('expm1', a),
  log: (a: SymLike) => unary('log', a),
  tanh: (a: SymLike) => unary('tanh', a),
  /** -1, 0 or 1 (0 for 0 and NaN, as a comparison-based sign). */
  sign: (a: SymLike) => unary('sign', a),
  not: (a: SymLike) => unary('not', a),
  /** `c != 0 ? a : b`, elementwise. */
  select(c: SymLike, a: SymLike, b: SymLike): Sym {
    const [x, y, z] = [lift(c), lift(a), lift(b)];
    const g = graph();
    const j = g.join(g.join(g.where(x), g.where(y), 'select'), g.where(z), 'select');
    return g.add({ op: 'select', args: [x.id, y.id, z.id] }, j.domain, j.param, j.length);
  },
  /** A per-step number computed on the host (e.g. a schedule's value): a uniform of the program. */
  uniform(value: number): Sym {
    const g = graph();
    const slot = g.uniforms.length;
    g.uniforms.push(value);
    return g.add({ op: 'uniform', slot }, 'step');
  },
  /** Sum over a parameter's elements (or rows or columns), or over a window's slots. */
  sum(a: Sym): Sym {
    const g = graph();
    if (a.domain === 'window') return g.add({ op: 'windowSum', args: [a.id] }, 'step');
    if (a.domain === 'elem' || a.domain === 'row' || a.domain === 'col') return g.add({ op: 'sum', args: [a.id] }, 'param', a.param);
    throw new FusionDecline(`sum of a ${a.domain} value`);
  },
  /** Sum over each row of a parameter of rank >= 2: one value per row. */
  rowSum(a: Sym): Sym {
    const g = graph();
    const name = paramOf(a, 'rowSum');
    if (g.param(name).rows === undefined) throw new FusionDecline(`rowSum of parameter '${name}' of rank < 2`);
    if (a.domain !== 'elem') throw new FusionDecline(`rowSum of a ${a.domain} value`);
    return g.add({ op: 'rowSum', args: [a.id] }, 'row', name);
  },
  /** Sum over each column (over axis 0) of a parameter of rank >= 2: one value per column. */
  colSum(a: Sym): Sym {
    const g = graph();
    const name = paramOf(a, 'colSum');
    if (g.param(name).rows === undefined) throw new FusionDecline(`colSum of parameter '${name}' of rank < 2`);
    if (a.domain !== 'elem') throw new FusionDecline(`colSum of a ${a.domain} value`);
    return g.add({ op: 'colSum', args: [a.id] }, 'col', name);
  },
  /** Sum of per-parameter values over parameters: one step value. */
  sumParams(values: readonly Sym[]): Sym {
    const g = graph();
    if (values.length === 0) return lift(0);
    for (const v of values) if (v.domain !== 'param') throw new FusionDecline(`sumParams of a ${v.domain} value`);
    return g.add({ op: 'sumParams', args: values.map((v) => v.id) }, 'step');
  },
  /** The element count of the parameter `a` belongs to (a constant). */
  size: (a: Sym): Sym => lift(graph().param(paramOf(a, 'size')).size),
  /** The row count `d0` of the (rank >= 2) parameter `a` belongs to. */
  rows: (a: Sym): Sym => lift(graph().param(paramOf(a, 'rows')).rows ?? 1),
  /** The column count `d1*...*dn` of the (rank >= 2) parameter `a` belongs to. */
  cols: (a: Sym): Sym => lift(graph().param(paramOf(a, 'cols')).cols ?? 1),
  /** A state tensor of the parameter's shape, per element. */
  elem(ref: LeafRef, param: string): Sym {
    const shape = graph().param(param).shape;
    return readLeaf(ref, 'elem', param, (l) => (sameShape(l.shape, shape) ? undefined : `expected the shape of parameter '${param}' [${shape.join(', ')}]`));
  },
  /** A state tensor of shape `[d0]` for a parameter of rank >= 2, per row. */
  row(ref: LeafRef, param: string): Sym {
    const info = graph().param(param);
    return readLeaf(ref, 'row', param, (l) => (info.rows !== undefined && sameShape(l.shape, [info.rows]) ? undefined : `expected [${info.shape[0]}] (one per row of '${param}')`));
  },
  /** A state tensor of shape `[d1, ..., dn]` for a parameter of rank >= 2, per column. */
  col(ref: LeafRef, param: string): Sym {
    const info = graph().param(param);
    const shape = info.shape.slice(1);
    return readLeaf(ref, 'col', param, (l) => (info.rows !== undefined && sameShape(l.shape, shape) ? undefined : `expected [${shape.join(', ')}] (one per column of '${param}')`));
  },
  /** A one-element state tensor kept per parameter. */
  paramScalar(ref: LeafRef, param: string): Sym {
    graph().param(param);
    return readLeaf(ref, 'param', param, (l) => (l.shape.reduce((a, b) => a * b, 1) === 1 ? undefined : 'expected one element'));
  },
  /** A one-element state tensor kept per step. */
  step(ref: LeafRef): Sym {
    return readLeaf(ref, 'step', undefined, (l) => (l.shape.reduce((a, b) => a * b, 1) === 1 ? undefined : 'expected one element'));
  },
  /** A short vector state tensor kept per step (e.g. a history of scalars). */
  window(ref: LeafRef): Sym {
    return readLeaf(ref, 'window', undefined, (l) => (l.shape.length === 1 && l.shape[0]! > 0 ? undefined : 'expected a non-empty vector'));
  },
  /**
   * A state tensor read where it already lives (as its block read it this step), or, when
   * nothing read it yet, where `like` (its new value) lives: for a wrapper that selects
   * between its inner block's old and new state without knowing that block's layout
   * (`fx.select(ok, neu, fx.leaf(ref, neu))`, as `applyIfFinite` does).
   */
  leaf(ref: LeafRef, like: Sym): Sym {
    if (!isLeafRef(ref)) throw new FusionDecline(`expected a state tensor, got ${typeof ref}`);
    const info = graph().leaves[ref.leaf]!;
    const domain = info.domain ?? like.domain;
    const param = info.domain !== undefined ? info.param : like.param;
    const of = (op: string) => {
      if (param === undefined) throw new FusionDecline(`'${op}' of state '${info.path}' needs a parameter`);
      return param;
    };
    switch (domain) {
      case 'step':
        return fx.step(ref);
      case 'window':
        return fx.window(ref);
      case 'param':
        return fx.paramScalar(ref, of('paramScalar'));
      case 'row':
        return fx.row(ref, of('row'));
      case 'col':
        return fx.col(ref, of('col'));
      case 'elem':
        return fx.elem(ref, of('elem'));
    }
  },
  /** The window `ref` shifted by one slot, `value` (a step value) appended as the newest slot. */
  shiftIn(ref: LeafRef, value: SymLike): Sym {
    const w = fx.window(ref);
    const v = lift(value);
    if (v.domain !== 'step') throw new FusionDecline(`shiftIn of a ${v.domain} value`);
    const g = graph();
    return g.add({ op: 'shiftIn', leaf: ref.leaf, args: [v.id] }, 'window', undefined, g.where(w).length);
  },
  /** The rank of a parameter (a plain number, for choices made while tracing). */
  rank: (name: string): number => graph().param(name).shape.length,
};
