import { argsOf, type Node, type TracedStep } from '@emosens/core';

/**
 * Element passes compiled to WebAssembly with 128-bit SIMD (four float32 lanes), for the
 * wasm backend, whose tensors live in the memory the module imports. The JavaScript step
 * (see `renderJs`) computes every value that is not per element and calls one of these
 * functions per pass; the last `size % 4` elements stay in JavaScript, rounded as float32.
 *
 * Lanes compute in float32, as tfjs's own kernels store every result, so a pass rounds
 * like the `'exact'` JavaScript rendering. The op table below is this target's whole math.
 */

/** How the JavaScript side calls a compiled pass. */
export interface WasmPassCall {
  /** The pass's function index in the module. */
  readonly index: number;
  /** Array arguments, in order: the JavaScript names of typed arrays (`P0`, `G0`, `L3`). */
  readonly arrays: readonly string[];
  /** Scalar arguments, in order: JavaScript expressions (`v12`, `c40`, `L2[0]`). */
  readonly scalars: readonly string[];
  /** The `sum` reductions it returns, in order (node ids). */
  readonly sums: readonly number[];
}

/** What the pass reads and writes, described by the JavaScript renderer. */
export interface WasmPassSpec {
  /** Element nodes to compute (in id order; unused ones are dropped). */
  readonly nodes: readonly number[];
  /** `sum` reductions of element values accumulated by this pass. */
  readonly sums: readonly number[];
  /** Stores after each element's values: array name and the node stored (`add` true: `array = from + node`, `from` the array itself unless given). */
  readonly stores: readonly { readonly array: string; readonly node: number; readonly add: boolean; readonly from?: string }[];
  /** Threshold tests rendered as `base >= cutoff` (node id -> base id and the cutoff's JavaScript name). */
  readonly cutoffs: ReadonlyMap<number, { readonly base: number; readonly cutoff: string }>;
  /** The JavaScript reference of a value that is not per element (a step or parameter value). */
  scalarRef(id: number): string;
  /** The JavaScript name of the array an element input reads (`G0`, `P0`, `L7`). */
  arrayOf(node: Node): string;
}

const SIMD_BINARY: Record<string, number> = { add: 0xe4, sub: 0xe5, mul: 0xe6, div: 0xe7, min: 0xe8, max: 0xe9 };
const SIMD_COMPARE: Record<string, number> = { eq: 0x41, lt: 0x43, gt: 0x44, le: 0x45, ge: 0x46 };
const SIMD_UNARY: Record<string, number> = { abs: 0xe0, neg: 0xe1, sqrt: 0xe3 };
const SUPPORTED = new Set([...Object.keys(SIMD_BINARY), ...Object.keys(SIMD_COMPARE), ...Object.keys(SIMD_UNARY), 'sign', 'not', 'and', 'or', 'select', 'const', 'grad', 'param', 'leaf']);

const V128 = 0x7b;
const I32 = 0x7f;
const F32 = 0x7d;
const F64 = 0x7c;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const f32Bytes = (v: number) => Array.from(new Uint8Array(Float32Array.of(v).buffer));
const simd = (op: number) => [0xfd, ...uleb(op)];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const str = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

/** A compiled function's signature and body. */
interface PassFunction {
  readonly params: number[];
  readonly results: number[];
  readonly body: number[];
}

/**
 * Collects the passes of one step and builds one module with a function per pass.
 */
export class WasmPasses {
  private readonly functions: PassFunction[] = [];

  /** Whether the pass can be compiled: every live element op is in the table. */
  static supports(step: TracedStep, spec: WasmPassSpec): boolean {
    for (const id of liveNodes(step, spec)) {
      if (spec.cutoffs.has(id)) continue;
      const node = step.graph.node(id);
      if (!SUPPORTED.has(node.op)) return false;
      if (node.op === 'leaf' && step.graph.leaves[node.leaf]!.dtype !== 'float32') return false;
    }
    return true;
  }

  /** Compiles one pass; returns how to call it. */
  add(step: TracedStep, spec: WasmPassSpec): WasmPassCall {
    const { graph } = step;
    const live = liveNodes(step, spec);
    const arrays: string[] = [];
    const scalars: string[] = [];
    const arrayParam = new Map<string, number>();
    const scalarParam = new Map<string, number>();
    // parameters: 0 = end (bytes), then arrays (i32 addresses), then scalars (f32)
    const arrayIndex = (name: string) => {
      if (!arrayParam.has(name)) {
        arrayParam.set(name, arrays.length);
        arrays.push(name);
      }
      return arrayParam.get(name)!;
    };
    const scalarIndex = (js: string) => {
      if (!scalarParam.has(js)) {
        scalarParam.set(js, scalars.length);
        scalars.push(js);
      }
      return scalarParam.get(js)!;
    };
    // first pass over the nodes: which inputs exist
    const constants = new Map<number, number>(); // const node id -> value
    const outside = new Set<number>(); // non-element node ids used
    const noteArg = (a: number) => {
      const n = graph.node(a);
      if (n.op === 'const') constants.set(a, n.value);
      else if (n.domain !== 'elem') outside.add(a);
    };
    for (const id of live) {
      const node = graph.node(id);
      const cut = spec.cutoffs.get(id);
      if (cut) {
        noteArg(cut.base);
        scalarIndex(cut.cutoff);
        continue;
      }
      if (node.op === 'grad' || node.op === 'param' || node.op === 'leaf') arrayIndex(spec.arrayOf(node));
      if ('args' in node) node.args.forEach(noteArg);
    }
    for (const s of spec.stores) {
      arrayIndex(s.array);
      if (s.add && s.from !== undefined) arrayIndex(s.from);
      noteArg(s.node);
    }
    for (const r of spec.sums) noteArg((graph.node(r) as { args: readonly number[] }).args[0]!);
    for (const id of outside) scalarIndex(spec.scalarRef(id));
    const nParams = 1 + arrays.length + scalars.length;

    // locals: x (i32), then v128s: ZERO, ONE, one per constant, per outside value, per live node, 2 per sum
    let next = nParams;
    const X = next++;
    const firstV128 = next;
    const ZERO = next++;
    const ONE = next++;
    const local = new Map<number, number>();
    for (const id of [...constants.keys(), ...outside, ...live]) if (!local.has(id)) local.set(id, next++);
    const accumulators = spec.sums.map(() => [next++, next++] as const);

    const code: number[] = [];
    const get = (i: number) => code.push(0x20, ...uleb(i));
    const set = (i: number) => code.push(0x21, ...uleb(i));
    const splatF32 = (value: number, into: number) => {
      code.push(0x43, ...f32Bytes(value), ...simd(0x13));
      set(into);
    };
    splatF32(0, ZERO);
    splatF32(1, ONE);
    for (const [id, value] of constants) splatF32(value, local.get(id)!);
    for (const id of outside) {
      get(1 + arrays.length + scalarParam.get(spec.scalarRef(id))!);
      code.push(...simd(0x13));
      set(local.get(id)!);
    }
    for (const [a, b] of accumulators) {
      get(ZERO);
      set(a);
      get(ZERO);
      set(b);
    }
    const cutoffLocal = new Map<number, number>();
    for (const [id, cut] of spec.cutoffs) {
      if (!live.includes(id)) continue;
      const l = next++;
      cutoffLocal.set(id, l);
      get(1 + arrays.length + scalarParam.get(cut.cutoff)!);
      code.push(...simd(0x13));
      set(l);
    }
    const totalV128 = next - firstV128;

    const load = (array: string) => {
      get(1 + arrayParam.get(array)!);
      get(X);
      code.push(0x6a, ...simd(0x00), 0x02, 0x00); // i32.add; v128.load align=4 offset=0
    };
    const value = (id: number) => get(local.get(id)!);
    const mask = () => {
      get(ONE);
      code.push(...simd(0x4e)); // v128.and: 0/1 from an all-ones mask
    };

    code.push(0x02, 0x40, 0x03, 0x40); // block, loop
    get(X);
    get(0);
    code.push(0x4f, 0x0d, 0x01); // i32.ge_u; br_if 1
    for (const id of live) {
      const node = graph.node(id);
      const args = argsOf(node);
      const cut = spec.cutoffs.get(id);
      if (cut) {
        value(cut.base);
        get(cutoffLocal.get(id)!);
        code.push(...simd(SIMD_COMPARE.ge!));
        mask();
      } else if (node.op === 'grad' || node.op === 'param' || node.op === 'leaf') {
        load(spec.arrayOf(node));
      } else if (node.op === 'const') {
        continue;
      } else if (node.op in SIMD_BINARY) {
        value(args[0]!);
        value(args[1]!);
        code.push(...simd(SIMD_BINARY[node.op]!));
      } else if (node.op in SIMD_COMPARE) {
        value(args[0]!);
        value(args[1]!);
        code.push(...simd(SIMD_COMPARE[node.op]!));
        mask();
      } else if (node.op in SIMD_UNARY) {
        value(args[0]!);
        code.push(...simd(SIMD_UNARY[node.op]!));
      } else if (node.op === 'sign') {
        const a = args[0]!;
        value(a);
        get(ZERO);
        code.push(...simd(SIMD_COMPARE.gt!));
        mask();
        value(a);
        get(ZERO);
        code.push(...simd(SIMD_COMPARE.lt!));
        mask();
        code.push(...simd(SIMD_BINARY.sub!));
      } else if (node.op === 'not') {
        value(args[0]!);
        get(ZERO);
        code.push(...simd(SIMD_COMPARE.eq!));
        mask();
      } else if (node.op === 'and' || node.op === 'or') {
        value(args[0]!);
        get(ZERO);
        code.push(...simd(0x42)); // f32x4.ne
        value(args[1]!);
        get(ZERO);
        code.push(...simd(0x42));
        code.push(...simd(node.op === 'and' ? 0x4e : 0x50));
        mask();
      } else if (node.op === 'select') {
        value(args[1]!);
        value(args[2]!);
        value(args[0]!);
        get(ZERO);
        code.push(...simd(0x42), ...simd(0x52)); // ne; v128.bitselect
      } else {
        throw new Error(`renderWasm: no rendering for op '${node.op}'`);
      }
      set(local.get(id)!);
    }
    spec.sums.forEach((r, k) => {
      const arg = (graph.node(r) as { args: readonly number[] }).args[0]!;
      const [lo, hi] = accumulators[k]!;
      get(lo);
      value(arg);
      code.push(...simd(0x5f), ...simd(0xf0)); // f64x2.promote_low_f32x4; f64x2.add
      set(lo);
      get(hi);
      value(arg);
      value(arg);
      code.push(...simd(0x0d), 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15); // i8x16.shuffle: lanes 2, 3 down
      code.push(...simd(0x5f), ...simd(0xf0));
      set(hi);
    });
    for (const s of spec.stores) {
      get(1 + arrayParam.get(s.array)!);
      get(X);
      code.push(0x6a);
      if (s.add) {
        load(s.from ?? s.array);
        value(s.node);
        code.push(...simd(SIMD_BINARY.add!));
      } else {
        value(s.node);
      }
      code.push(...simd(0x0b), 0x02, 0x00); // v128.store align=4 offset=0
    }
    get(X);
    code.push(0x41, ...sleb(16), 0x6a); // i32.const 16; i32.add
    set(X);
    code.push(0x0c, 0x00, 0x0b, 0x0b); // br 0; end loop; end block
    for (const [lo, hi] of accumulators) {
      // (lo0 + lo1) + (hi0 + hi1): lanes 0..3 summed pairwise
      get(lo);
      code.push(...simd(0x21), 0);
      get(lo);
      code.push(...simd(0x21), 1);
      code.push(0xa0); // f64.add
      get(hi);
      code.push(...simd(0x21), 0);
      get(hi);
      code.push(...simd(0x21), 1);
      code.push(0xa0, 0xa0);
    }
    code.push(0x0b); // end function

    const locals = [
      [...uleb(1), I32],
      [...uleb(totalV128), V128],
    ];
    const body = [...vec(locals), ...code];
    this.functions.push({
      params: [I32, ...arrays.map(() => I32), ...scalars.map(() => F32)],
      results: spec.sums.map(() => F64),
      body: [...uleb(body.length), ...body],
    });
    return { index: this.functions.length - 1, arrays, scalars, sums: spec.sums };
  }

  get size(): number {
    return this.functions.length;
  }

  /**
   * One module per pass (small modules compile synchronously on a browser's main thread,
   * which refuses modules over 4 kB), memory imported as `env.memory`; returns the exported
   * functions in pass order.
   */
  instantiate(memory: WebAssembly.Memory): ((...args: number[]) => unknown)[] {
    return this.functions.map((f) => {
      const bytes = Uint8Array.from([
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
        ...section(1, vec([[0x60, ...vec(f.params.map((t) => [t])), ...vec(f.results.map((t) => [t]))]])),
        ...section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, ...uleb(0)]])),
        ...section(3, vec([uleb(0)])),
        ...section(7, vec([[...str('pass'), 0x00, ...uleb(0)]])),
        ...section(10, vec([f.body])),
      ]);
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
      return instance.exports.pass as (...args: number[]) => unknown;
    });
  }
}

/** The element nodes a pass needs: from its stores and sums back through element arguments (a cutoff test needs only its base). */
function liveNodes(step: TracedStep, spec: WasmPassSpec): number[] {
  const { graph } = step;
  const live = new Set<number>();
  const stack = [...spec.stores.map((s) => s.node), ...spec.sums.map((r) => (graph.node(r) as { args: readonly number[] }).args[0]!)];
  while (stack.length) {
    const id = stack.pop()!;
    const node = graph.node(id);
    if (live.has(id) || node.domain !== 'elem') continue;
    live.add(id);
    const cut = spec.cutoffs.get(id);
    if (cut) stack.push(cut.base);
    else if ('args' in node) stack.push(...node.args);
  }
  return [...live].sort((a, b) => a - b);
}
