import { argsOf, isElemReduction, scheduleStep, type Domain, type Graph, type Node, type Schedule, type TracedStep, findPowThreshold, type PowThreshold } from '@emosens/core';
import { atLeast, binary, helperDependencies, helperSource, select, unary, WGSL_HELPERS, type Lanes, type Rendered, type WgslHelper } from './wgsl-ops.js';

/** A storage buffer a program binds: the step's scratch buffer or one of its tensors. */
export type BufferRef =
  | { readonly kind: 'scratch' }
  /** `step.params[index].variable`. */
  | { readonly kind: 'param'; readonly index: number }
  /** `step.params[index].grad`. */
  | { readonly kind: 'grad'; readonly index: number }
  /** `step.leafTensors[leaf]`. */
  | { readonly kind: 'leaf'; readonly leaf: number };

/** One storage binding of a program (binding `k + 1` for the k-th; binding 0 is the uniform block). */
export interface WgslBinding {
  readonly name: string;
  readonly access: 'read' | 'read_write';
  readonly type: 'f32' | 'i32' | 'u32';
  /** 4: bound as `array<vec4<type>>` over the first `floor(size / 4) * 4` entries. */
  readonly lanes: Lanes;
  readonly buffer: BufferRef;
}

/**
 * A rendered compute program, the tfjs-backend-webgpu way: `shaderKey` holds everything
 * that shapes the source (it is the source), so pipelines are cached by it; what varies
 * from step to step (constants, uniforms, a number loss) is in the uniform block.
 */
export interface WgslProgram {
  /** What the program does, for debugging (`elem w final`, `scalar`, ...). */
  readonly label: string;
  readonly shaderKey: string;
  readonly source: string;
  /** Whether the source reads the uniform block (binding 0); unused bindings must not be bound. */
  readonly usesUniforms: boolean;
  readonly bindings: readonly WgslBinding[];
  readonly workgroupSize: number;
  /** Invocations to launch (rounded up to whole workgroups; the extra ones do nothing). */
  readonly invocations: number;
}

/** One entry (an f32) of the uniform block, filled in on the host each step. */
export type UniformEntry =
  | { readonly kind: 'nan' }
  | { readonly kind: 'inf' }
  /** The loss, when it is a number. */
  | { readonly kind: 'loss' }
  /** The value of a `const` node. */
  | { readonly kind: 'const'; readonly node: number }
  /** `graph.uniforms[slot]`. */
  | { readonly kind: 'uniform'; readonly slot: number }
  /** 1 when the signal's previous value was copied into its slot (a skipped step keeps it), else 0. */
  | { readonly kind: 'hasPrevious'; readonly signal: number };

/** A copy between a state tensor and its words in the scratch buffer. */
export interface ScratchCopy {
  readonly leaf: number;
  /** First word in the scratch buffer. */
  readonly offset: number;
  readonly words: number;
}

/** Where a signal's value is after the step. */
export type SignalPlace =
  /** The signal is this written step leaf's own tensor (as on the typed-array target). */
  | { readonly leaf: number }
  /** A new scalar tensor, copied from this scratch word (bits of an f32, or 0/1 for bool). */
  | { readonly offset: number };

/**
 * A traced step rendered for WebGPU: its programs in dispatch order and the layout of the
 * per-step scratch buffer (`array<u32>`, word 0 the guard flag) through which programs
 * pass the values that are not per element, and which the host fills and empties with
 * buffer copies (no readback: copies stay on the device).
 */
export interface WgslPlan {
  readonly programs: readonly WgslProgram[];
  readonly scratchWords: number;
  readonly uniforms: readonly UniformEntry[];
  /** Where a loss tensor is copied (it is then read, and checked, there). */
  readonly lossOffset: number | undefined;
  /** State tensors copied into the scratch buffer before the programs (their old values). */
  readonly copyIn: readonly ScratchCopy[];
  /** State tensors copied back from the scratch buffer after the programs (their new values). */
  readonly copyOut: readonly ScratchCopy[];
  /** By `step.signals` index. */
  readonly signals: readonly SignalPlace[];
  /** The most storage buffers one program binds. */
  readonly maxStorageBindings: number;
}

/** How the loss reaches the programs: a tensor (copied into the scratch buffer), a number (a uniform), or none. */
export type LossKind = 'tensor' | 'number' | 'none';

export interface RenderWgslOptions {
  /** Add the finite check programs in front (`skipNonFinite`). */
  readonly guarded: boolean;
  readonly loss: LossKind;
}

/** The scratch word that holds the guard flag: 1 = apply the step, 0 = a non-finite input was found. */
export const OK_WORD = 0;
/** Uniform entries reserved for NaN and +Infinity (a WGSL constant expression may be neither). */
const UNIFORM_NAN = 0;
const UNIFORM_INF = 1;
/** Storage buffers WebGPU guarantees per shader stage. */
export const GUARANTEED_STORAGE_BINDINGS = 8;
/** Threads of the elementwise programs' workgroups. */
export const WORKGROUP_SIZE = 64;
/** Threads of the one workgroup that adds up a `sum` over a parameter's elements. */
export const SUM_WORKGROUP_SIZE = 256;

/** Marks a store line until assembly: `<indent>${STORE_MARK}<node>:<code>`. */
const STORE_MARK = '@store:';
const STORE_LINE = /^(\s*)@store:(\d+):(.*)$/;

const INPUT_OPS = new Set(['const', 'uniform', 'loss', 'grad', 'param', 'leaf']);

/** The scope an expression is rendered in: values computed here (`let`s) and the indices in scope. */
interface Scope {
  readonly locals: Set<number>;
  /** Element index `x` (u32) in scope. */
  readonly x?: boolean;
  /** 4: element values are `vec4<f32>` of the four elements from `4x` on (a pass rendered four lanes wide). */
  readonly lanes?: Lanes;
  /** Row index, column index, window slot: the WGSL expressions (u32). */
  readonly i?: string;
  readonly j?: string;
  readonly t?: string;
}

/** What shapes a program besides its body. */
interface DraftOptions {
  readonly kind: 'single' | 'parallel' | 'sum';
  readonly label: string;
  readonly workgroupSize: number;
  readonly invocations: number;
  /** The parameter whose tensors (`P`, `G`, `L<leaf>`) it binds. */
  readonly param?: number;
  /** Whether it writes the parameter. */
  readonly writesParam?: boolean;
  /** The gradients a finite check reads (`I<k>`). */
  readonly checks?: readonly number[];
  /** 4: the parameter's tensors are bound as `vec4` arrays. */
  readonly lanes?: Lanes;
}

/** A program before assembly: its body, the helpers it calls, what it writes. */
interface Draft extends DraftOptions {
  readonly lines: string[];
  readonly helpers: Set<WgslHelper>;
  /** Per-element leaves it writes. */
  readonly writes: Set<number>;
  /** Values computed at the top level of its body (a single-invocation program grows by merging). */
  readonly locals: Set<number>;
}

/** Entries of a tensor of `shape` (0 for an empty one). */
const words = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Renders a traced step as WGSL programs, following its schedule (see `scheduleStep`):
 *
 * - one single-invocation program computes every value that is not per element, per row
 *   or per column and needs no pass over elements (the emotion, a step count, a schedule's
 *   factor, a root-filter cutoff, ...), as soon as its inputs are known; each later sweep's
 *   such values join the next single-invocation program (merged when nothing runs between);
 * - per parameter: one program over its rows and columns (one invocation per row / column)
 *   when a pass or a sum first needs them; per sweep, one program per kind of reduction over
 *   its elements (`sum`: one workgroup of 256 striding over the elements, then a tree in
 *   workgroup memory; `rowSum`: one invocation per row; `colSum`: one per column); and on its
 *   last pass one elementwise program, four elements per invocation where it can (and one
 *   for the tail), that writes the parameter and its per-element state in place;
 * - last, one program writes the new values of the state that is not per element, and of
 *   the signals, into the scratch buffer, from where the host copies them into the tensors.
 *
 * The op table of wgsl-ops.ts is the whole of the math; this knows no block. Every writing
 * program returns at once when the guard flag is clear (see `OK_WORD`).
 */
export function renderWgsl(step: TracedStep, options: RenderWgslOptions, schedule: Schedule = scheduleStep(step)): WgslPlan {
  return new WgslRenderer(step, options, schedule).render();
}

class WgslRenderer {
  private readonly graph: Graph;
  private readonly uniforms: UniformEntry[] = [{ kind: 'nan' }, { kind: 'inf' }];
  private readonly uniformIndex = new Map<string, number>();
  private scratchWords = 1; // word 0: the guard flag
  private readonly lossOffset: number | undefined;
  private readonly leafIn = new Map<number, number>();
  private readonly leafOut = new Map<number, number>();
  private readonly nodeSlot = new Map<number, number>();
  private readonly signalPlaces: SignalPlace[] = [];
  private readonly paramIndex: Map<string, number>;
  private readonly drafts: Draft[] = [];
  /** Values some program loads from the scratch buffer (the others need no store). */
  private readonly loaded = new Set<number>();
  /** Values a program has computed so far (a cutoff's threshold waits for its value). */
  private readonly available = new Set<number>();
  /** Per-element tests `pow(base, c) >= t`, by the test's node, with the scratch word of their cutoff. */
  private readonly cutoffs = new Map<number, PowThreshold & { readonly slot: number }>();
  /** Tests whose cutoff a program has computed: later programs test `base >= cutoff`. */
  private readonly cutoffReady = new Set<number>();

  constructor(
    private readonly step: TracedStep,
    private readonly options: RenderWgslOptions,
    private readonly schedule: Schedule,
  ) {
    this.graph = step.graph;
    this.paramIndex = new Map(step.params.map((p, k) => [p.name, k]));
    this.lossOffset = options.loss === 'tensor' ? this.allocate(1) : undefined;
  }

  private allocate(n: number): number {
    const at = this.scratchWords;
    this.scratchWords += n;
    return at;
  }

  render(): WgslPlan {
    const { graph, step, schedule } = this;
    const used = [...schedule.used].sort((a, b) => a - b);

    // The scratch layout: old values of the state read (not per element), new values of the
    // state written, every computed value that is not per element, non-state signals.
    const read = new Set<number>();
    for (const id of used) {
      const node = graph.node(id);
      if (node.op === 'leaf' || node.op === 'shiftIn') read.add(node.leaf);
    }
    for (const leaf of [...read].sort((a, b) => a - b)) {
      const info = graph.leaves[leaf]!;
      if (info.domain !== undefined && info.domain !== 'elem') this.leafIn.set(leaf, this.allocate(Math.max(1, words(info.shape))));
    }
    for (const [leaf] of [...step.writes].sort((a, b) => a[0] - b[0])) {
      const info = graph.leaves[leaf]!;
      if (info.domain !== 'elem') this.leafOut.set(leaf, this.allocate(Math.max(1, words(info.shape))));
    }
    for (const id of used) {
      const node = graph.node(id);
      if (INPUT_OPS.has(node.op) || node.domain === 'elem') continue;
      this.nodeSlot.set(id, this.allocate(Math.max(1, this.extent(node))));
    }
    step.signals.forEach((s, k) => {
      for (const [leaf, value] of step.writes) {
        const l = graph.leaves[leaf]!;
        if (value.id === s.value.id && l.dtype === s.dtype && (l.domain === 'step' || l.domain === 'param') && l.shape.length === 0) {
          this.signalPlaces[k] = { leaf };
          return;
        }
      }
      this.signalPlaces[k] = { offset: this.allocate(1) };
    });

    for (const id of used) {
      const found = graph.node(id).domain === 'elem' ? findPowThreshold(graph, id) : undefined;
      if (found) this.cutoffs.set(id, { ...found, slot: this.allocate(1) });
    }

    if (this.options.guarded) this.renderChecks();

    // Values that need no pass over elements, rows or columns: computed first, in one invocation.
    const hoisted = new Set<number>();
    for (const id of used) {
      const node = graph.node(id);
      if (INPUT_OPS.has(node.op) || !['step', 'window', 'param'].includes(node.domain) || node.op === 'sum') continue;
      if (argsOf(node).every((a) => hoisted.has(a) || INPUT_OPS.has(graph.node(a).op))) hoisted.add(id);
    }
    this.renderSingle([...hoisted]);

    // Row and column values wait (per parameter) until something needs them: an element
    // pass, or a sum over them (computed by the next single-invocation program); so the
    // rows/columns of several sweeps share one program.
    const scalarConsumed = new Set<number>();
    for (const id of used) {
      const node = graph.node(id);
      if (node.domain === 'step' || node.domain === 'param') argsOf(node).forEach((a) => scalarConsumed.add(a));
    }
    const pending = new Map<string, { rows: number[]; cols: number[]; from: number }>();
    const flush = (name: string, sweep: number) => {
      const p = pending.get(name);
      if (p === undefined) return;
      pending.delete(name);
      this.renderRowsCols(name, p.rows, p.cols, p.from === sweep ? `sweep ${sweep}` : `sweeps ${p.from}-${sweep}`);
    };
    schedule.sweeps.forEach((sweep, s) => {
      const scalars = [...sweep.step, ...sweep.window, ...sweep.params.flatMap((p) => p.scalars)]
        .filter((id) => !INPUT_OPS.has(graph.node(id).op) && !hoisted.has(id) && !isElemReduction(graph, graph.node(id)))
        .sort((a, b) => a - b);
      this.renderSingle(scalars);
      for (const ps of sweep.params) {
        const own = (ids: readonly number[]) => ids.filter((id) => !INPUT_OPS.has(graph.node(id).op) && !isElemReduction(graph, graph.node(id)));
        const rows = own(ps.rows);
        const cols = own(ps.cols);
        if (rows.length || cols.length) {
          const p = pending.get(ps.name) ?? { rows: [], cols: [], from: s };
          p.rows.push(...rows);
          p.cols.push(...cols);
          pending.set(ps.name, p);
        }
        const pass = ps.pass;
        const waiting = new Set([...(pending.get(ps.name)?.rows ?? []), ...(pending.get(ps.name)?.cols ?? [])]);
        const passNeeds =
          pass !== undefined &&
          (pass.nodes.some((id) => argsOf(graph.node(id)).some((a) => waiting.has(a))) || this.passRoots(ps.name, pass.final).some((id) => waiting.has(id)));
        if (passNeeds || [...waiting].some((id) => scalarConsumed.has(id))) flush(ps.name, s);
        if (pass === undefined) continue;
        const k = this.paramIndex.get(ps.name);
        if (k === undefined) throw new Error(`parameter '${ps.name}' has element work but no gradient this step`);
        for (const op of ['sum', 'rowSum', 'colSum'] as const) {
          const reductions = pass.reductions.filter((r) => graph.node(r).op === op);
          if (reductions.length) this.renderReduction(k, op, reductions, pass.nested, s);
        }
        if (pass.final) this.renderFinal(k, pass.nested);
      }
    });
    for (const name of [...pending.keys()]) flush(name, schedule.sweeps.length - 1);
    this.renderWrites();

    const programs = this.drafts.map((d) => this.assemble(d));
    const copies = (slots: Map<number, number>) =>
      [...slots].map(([leaf, offset]) => ({ leaf, offset, words: words(graph.leaves[leaf]!.shape) })).filter((c) => c.words > 0);
    const copyIn = [...copies(this.leafIn), ...copies(this.leafOut)];
    const copyOut = copies(this.leafOut);
    return {
      programs,
      scratchWords: this.scratchWords,
      uniforms: this.uniforms,
      lossOffset: this.lossOffset,
      copyIn,
      copyOut,
      signals: this.signalPlaces,
      maxStorageBindings: Math.max(0, ...programs.map((p) => p.bindings.length)),
    };
  }

  // ---- values and references -------------------------------------------------------

  private extent(node: Node): number {
    switch (node.domain) {
      case 'window':
        return node.length!;
      case 'row':
        return this.graph.param(node.param!).rows!;
      case 'col':
        return this.graph.param(node.param!).cols!;
      default:
        return 1;
    }
  }

  private uniform(entry: UniformEntry, use?: string): string {
    const key = entry.kind === 'const' ? `const@${use}` : JSON.stringify(entry);
    let k = this.uniformIndex.get(key);
    if (k === undefined) {
      k = this.uniforms.length;
      this.uniforms.push(entry);
      this.uniformIndex.set(key, k);
    }
    return uniformRef(k);
  }

  /** The index a value of `domain` is read at in `scope`. */
  private index(domain: Domain, scope: Scope, what: string): string | undefined {
    const need = (v: string | undefined, name: string) => {
      if (v === undefined) throw new Error(`renderWgsl: ${what} needs the ${name} index, which is not in scope`);
      return v;
    };
    switch (domain) {
      case 'step':
      case 'param':
        return undefined;
      case 'window':
        return need(scope.t, 'window slot');
      case 'row':
        return need(scope.i, 'row');
      case 'col':
        return need(scope.j, 'column');
      case 'elem':
        throw new Error(`renderWgsl: ${what} is per element and not computed here`);
    }
  }

  /**
   * The WGSL expression (an f32) of node `id` in `scope`. `use` names the place that reads
   * it: each use of a constant gets its own uniform entry, so the sources do not depend on
   * which constants happen to be equal (the graph keeps equal constants as one node).
   */
  private ref(id: number, scope: Scope, use: string): string {
    const node = this.graph.node(id);
    switch (node.op) {
      case 'const':
        return this.uniform({ kind: 'const', node: id }, use);
      case 'uniform':
        return this.uniform({ kind: 'uniform', slot: node.slot });
      case 'loss':
        if (this.lossOffset !== undefined) return loadF32(address(this.lossOffset, undefined));
        return this.uniform({ kind: 'loss' });
      case 'grad':
        if (!scope.x) throw new Error('renderWgsl: a gradient read outside an element pass');
        return 'G[x]';
      case 'param':
        if (!scope.x) throw new Error('renderWgsl: a parameter read outside an element pass');
        return 'P[x]';
      case 'leaf': {
        const info = this.graph.leaves[node.leaf]!;
        if (node.domain === 'elem') {
          if (!scope.x) throw new Error('renderWgsl: a per-element state read outside an element pass');
          return info.dtype === 'bool' ? `${scope.lanes === 4 ? 'vec4<f32>' : 'f32'}(L${node.leaf}[x])` : `L${node.leaf}[x]`;
        }
        const load = (at: string) => (info.dtype === 'bool' ? loadBool(at) : loadF32(at));
        if (scope.lanes === 4 && node.domain === 'col') return lanesOf(this.leafIn.get(node.leaf)!, scope, load);
        return load(address(this.leafIn.get(node.leaf)!, this.index(node.domain, scope, `state '${info.path}'`)));
      }
    }
    if (scope.locals.has(id)) return `v${id}`;
    const slot = this.nodeSlot.get(id);
    if (slot === undefined) throw new Error(`renderWgsl: value ${id} (${node.op}, ${node.domain}) is not available here`);
    this.loaded.add(id);
    if (scope.lanes === 4 && node.domain === 'col') return lanesOf(slot, scope, loadF32);
    return loadF32(address(slot, this.index(node.domain, scope, `value ${id} (${node.op})`)));
  }

  /** The expression computing a node that is not a reduction, from its arguments. */
  private expr(node: Node, scope: Scope, helpers: Set<WgslHelper>): string {
    // Four lanes: every argument of a per-element value as a vec4 (values that are not per
    // element, or per row, are the same in all four lanes).
    const lanes: Lanes = node.domain === 'elem' && scope.lanes === 4 ? 4 : 1;
    const arg = (id: number, use: string) => {
      const code = this.ref(id, scope, use);
      const d = this.graph.node(id).domain;
      return lanes === 4 && d !== 'elem' && d !== 'col' ? `vec4<f32>(${code})` : code;
    };
    const cut = this.cutoffReady.has(node.id) ? this.cutoffs.get(node.id) : undefined;
    if (cut) {
      const bound = loadF32(address(cut.slot, undefined));
      return atLeast(arg(cut.base, `${node.id}.base`), lanes === 4 ? `vec4<f32>(${bound})` : bound, lanes).code;
    }
    const a = argsOf(node).map((id, k) => arg(id, `${node.id}.${k}`));
    let r: Rendered | undefined;
    if (node.op === 'select') r = select(a[0]!, a[1]!, a[2]!, lanes);
    else if (node.op === 'shiftIn') {
      const info = this.graph.leaves[node.leaf]!;
      const n = info.shape[0]!;
      const t = this.index('window', scope, 'shiftIn')!;
      const at = address(this.leafIn.get(node.leaf)!, `min(${t} + 1u, ${n - 1}u)`);
      r = { code: `select(${a[0]}, ${info.dtype === 'bool' ? loadBool(at) : loadF32(at)}, ${t} < ${n - 1}u)`, helpers: [] };
    } else r = a.length === 1 ? unary(node.op, a[0]!, lanes) : a.length === 2 ? binary(node.op, a[0]!, a[1]!, lanes) : undefined;
    if (r === undefined) throw new Error(`renderWgsl: no rendering for op '${node.op}' here`);
    for (const h of r.helpers) helpers.add(h);
    return r.code;
  }

  /** `let v<id> = ...;` (and its store into the scratch buffer, for values that are not per element). */
  private emitValue(id: number, scope: Scope, lines: string[], indent: string, helpers: Set<WgslHelper>): void {
    const node = this.graph.node(id);
    lines.push(`${indent}let v${id} = ${this.expr(node, scope, helpers)};`);
    scope.locals.add(id);
    this.emitStore(id, scope, lines, indent);
  }

  /** Stores a value for later programs (dropped at assembly when no other program loads it). */
  private emitStore(id: number, scope: Scope, lines: string[], indent: string): void {
    const node = this.graph.node(id);
    if (node.domain === 'elem') return;
    this.available.add(id);
    lines.push(`${indent}${STORE_MARK}${id}:${storeF32(address(this.nodeSlot.get(id)!, this.index(node.domain, scope, `value ${id}`)), `v${id}`)}`);
  }

  // ---- programs -----------------------------------------------------------------------

  private draft(options: DraftOptions): Draft {
    const d: Draft = { ...options, invocations: Math.max(1, options.invocations), lines: [], helpers: new Set(), writes: new Set(), locals: new Set() };
    this.drafts.push(d);
    return d;
  }

  /** The finite check: clears the guard flag on NaN or ±Infinity in the loss or a gradient. */
  private renderChecks(): void {
    const perProgram = GUARANTEED_STORAGE_BINDINGS - 1;
    // An empty gradient has nothing to check (and no storage to bind).
    const grads = this.step.params.map((_, k) => k).filter((k) => this.step.params[k]!.grad.size > 0);
    const groups: number[][] = [];
    for (let k = 0; k < grads.length; k += perProgram) groups.push(grads.slice(k, k + perProgram));
    if (groups.length === 0 && this.lossOffset !== undefined) groups.push([]);
    groups.forEach((group, g) => {
      const size = Math.max(1, ...group.map((k) => this.step.params[k]!.grad.size));
      const d = this.draft({ kind: 'parallel', label: `check ${g}`, workgroupSize: WORKGROUP_SIZE, invocations: size, checks: group });
      d.lines.push('  let x = gid;');
      if (g === 0 && this.lossOffset !== undefined) d.lines.push(`  if (x == 0u && nonFinite(S[${this.lossOffset}u])) { S[${OK_WORD}u] = 0u; }`);
      group.forEach((_, q) => d.lines.push(`  if (x < arrayLength(&I${q}) && nonFinite(I${q}[x])) { S[${OK_WORD}u] = 0u; }`));
    });
  }

  /** Values computed once, in one invocation: appended to the previous program when that is one too. */
  private renderSingle(ids: readonly number[]): void {
    const { graph } = this;
    // Cutoffs whose threshold is known by the end of this program.
    const known = (id: number) => INPUT_OPS.has(graph.node(id).op) || this.available.has(id) || ids.includes(id);
    const cutoffs = [...this.cutoffs].filter(([id, c]) => !this.cutoffReady.has(id) && known(c.threshold));
    if (ids.length === 0 && cutoffs.length === 0) return;
    const last = this.drafts[this.drafts.length - 1];
    const d = last?.kind === 'single' ? last : this.draft({ kind: 'single', label: 'scalar', workgroupSize: 1, invocations: 1 });
    // Values of an earlier part of a merged program stay in scope (one function body).
    const scope: Scope = { locals: d.locals };
    for (let n = 0; n < ids.length; n++) {
      const id = ids[n]!;
      const node = graph.node(id);
      if (node.domain === 'window') {
        // Consecutive window values of one length: one loop over the slots.
        const group = [id];
        while (n + 1 < ids.length && graph.node(ids[n + 1]!).domain === 'window' && graph.node(ids[n + 1]!).length === node.length) group.push(ids[++n]!);
        const inner: Scope = { locals: new Set(scope.locals), t: 't' };
        d.lines.push(`  for (var t = 0u; t < ${node.length}u; t = t + 1u) {`);
        for (const w of group) this.emitValue(w, inner, d.lines, '    ', d.helpers);
        d.lines.push('  }');
        continue;
      }
      if (node.op === 'windowSum' || node.op === 'sum') {
        const arg = graph.node(argsOf(node)[0]!);
        const [idx, count]: ['t' | 'i' | 'j', number] =
          arg.domain === 'window' ? ['t', arg.length!] : arg.domain === 'row' ? ['i', graph.param(arg.param!).rows!] : ['j', graph.param(arg.param!).cols!];
        const inner: Scope = { locals: new Set(scope.locals), ...indexScope(idx) };
        d.lines.push(`  var a${id} = 0.0;`);
        d.lines.push(`  for (var ${idx} = 0u; ${idx} < ${count}u; ${idx} = ${idx} + 1u) { a${id} = a${id} + ${this.ref(arg.id, inner, `${id}.0`)}; }`);
        d.lines.push(`  let v${id} = a${id};`);
        scope.locals.add(id);
        this.emitStore(id, scope, d.lines, '  ');
        continue;
      }
      if (node.op === 'sumParams') {
        d.lines.push(`  let v${id} = ${argsOf(node).map((a, k) => this.ref(a, scope, `${id}.${k}`)).join(' + ')};`);
        scope.locals.add(id);
        this.emitStore(id, scope, d.lines, '  ');
        continue;
      }
      this.emitValue(id, scope, d.lines, '  ', d.helpers);
    }
    for (const [id, c] of cutoffs) {
      const t = this.ref(c.threshold, scope, `${id}.threshold`);
      const exponent = this.ref(c.exponentNode, scope, `${id}.exponent`);
      d.lines.push(`  ${storeF32(address(c.slot, undefined), `emosensPowCutoff(${t}, ${exponent}, ${c.strict})`)}`);
      d.helpers.add('emosensPowCutoff');
      this.cutoffReady.add(id);
    }
  }

  /** What an element pass of parameter `name` writes or reduces: the roots of its values. */
  private passRoots(name: string, final: boolean): number[] {
    const { graph, step } = this;
    const roots: number[] = [];
    for (const id of this.schedule.used) {
      const node = graph.node(id);
      if (node.param === name && isElemReduction(graph, node)) roots.push(argsOf(node)[0]!);
    }
    if (final) {
      for (const p of step.params) if (p.name === name) roots.push(p.update.id);
      for (const [leaf, value] of step.writes) if (graph.leaves[leaf]!.domain === 'elem' && graph.leaves[leaf]!.param === name) roots.push(value.id);
    }
    return roots;
  }

  /** A parameter's row and column values (of one or more sweeps): one invocation per row and per column. */
  private renderRowsCols(name: string, rows: readonly number[], cols: readonly number[], sweeps: string): void {
    if (rows.length === 0 && cols.length === 0) return;
    const info = this.graph.param(name);
    const invocations = Math.max(rows.length ? info.rows! : 0, cols.length ? info.cols! : 0);
    if (invocations === 0) return;
    const d = this.draft({ kind: 'parallel', label: `rows/cols ${name} (${sweeps})`, workgroupSize: WORKGROUP_SIZE, invocations });
    for (const [ids, count, idx] of [
      [rows, info.rows, 'i'],
      [cols, info.cols, 'j'],
    ] as const) {
      if (ids.length === 0 || count === 0) continue;
      d.lines.push(`  if (gid < ${count}u) {`);
      d.lines.push(`    let ${idx} = gid;`);
      const scope: Scope = { locals: new Set(), ...indexScope(idx) };
      for (const id of ids) this.emitValue(id, scope, d.lines, '    ', d.helpers);
      d.lines.push('  }');
    }
  }

  /** The element values `roots` need, in order. */
  private closure(roots: readonly number[]): number[] {
    const out = new Set<number>();
    const stack = [...roots];
    while (stack.length) {
      const id = stack.pop()!;
      const node = this.graph.node(id);
      if (out.has(id) || node.domain !== 'elem' || INPUT_OPS.has(node.op)) continue;
      out.add(id);
      const cut = this.cutoffReady.has(id) ? this.cutoffs.get(id) : undefined;
      stack.push(...(cut ? [cut.base] : argsOf(node)));
    }
    return [...out].sort((a, b) => a - b);
  }

  private emitElements(roots: readonly number[], scope: Scope, lines: string[], indent: string, helpers: Set<WgslHelper>): void {
    for (const id of this.closure(roots)) this.emitValue(id, scope, lines, indent, helpers);
  }

  /** Reductions over a parameter's elements of one kind (`sum`, `rowSum` or `colSum`), for the next sweep. */
  private renderReduction(k: number, op: 'sum' | 'rowSum' | 'colSum', reductions: readonly number[], nested: boolean, sweep: number): void {
    const name = this.step.params[k]!.name;
    const info = this.graph.param(name);
    const args = reductions.map((r) => argsOf(this.graph.node(r))[0]!);
    const label = `${op} ${name} (sweep ${sweep})`;
    if (info.size === 0) {
      // Nothing to add up (and no storage to bind): the sums are 0.
      const count = op === 'sum' ? 1 : op === 'rowSum' ? info.rows! : info.cols!;
      if (count === 0) return;
      const d = this.draft({ kind: 'parallel', label, workgroupSize: WORKGROUP_SIZE, invocations: count });
      for (const r of reductions) {
        d.lines.push(`  if (gid < ${count}u) { ${storeF32(address(this.nodeSlot.get(r)!, 'gid'), '0.0')} }`);
        this.available.add(r);
      }
      return;
    }
    if (op === 'sum') {
      const d = this.draft({ kind: 'sum', label, workgroupSize: SUM_WORKGROUP_SIZE, invocations: SUM_WORKGROUP_SIZE, param: k });
      reductions.forEach((_, q) => d.lines.push(`  var acc${q} = 0.0;`));
      d.lines.push(`  for (var x = lid; x < ${info.size}u; x = x + ${SUM_WORKGROUP_SIZE}u) {`);
      const scope: Scope = { locals: new Set(), x: true, ...(nested ? { i: 'i', j: 'j' } : {}) };
      if (nested) d.lines.push(`    let i = x / ${info.cols}u;`, `    let j = x - i * ${info.cols}u;`);
      this.emitElements(args, scope, d.lines, '    ', d.helpers);
      args.forEach((a, q) => d.lines.push(`    acc${q} = acc${q} + ${this.ref(a, scope, `${reductions[q]}.0`)};`));
      d.lines.push('  }');
      reductions.forEach((r, q) => {
        d.lines.push(`  partial[lid] = acc${q};`, '  workgroupBarrier();');
        d.lines.push(`  for (var half = ${SUM_WORKGROUP_SIZE / 2}u; half > 0u; half = half / 2u) {`);
        d.lines.push('    if (lid < half) { partial[lid] = partial[lid] + partial[lid + half]; }', '    workgroupBarrier();', '  }');
        d.lines.push(`  if (lid == 0u) { ${storeF32(address(this.nodeSlot.get(r)!, undefined), 'partial[0]')} }`, '  workgroupBarrier();');
        this.available.add(r);
      });
      return;
    }
    const perRow = op === 'rowSum';
    const [outer, inner, outerCount, innerCount] = perRow ? ['i', 'j', info.rows!, info.cols!] : ['j', 'i', info.cols!, info.rows!];
    const d = this.draft({ kind: 'parallel', label, workgroupSize: WORKGROUP_SIZE, invocations: outerCount, param: k });
    d.lines.push(`  if (gid >= ${outerCount}u) { return; }`, `  let ${outer} = gid;`);
    reductions.forEach((_, q) => d.lines.push(`  var acc${q} = 0.0;`));
    d.lines.push(`  for (var ${inner} = 0u; ${inner} < ${innerCount}u; ${inner} = ${inner} + 1u) {`, `    let x = i * ${info.cols}u + j;`);
    const scope: Scope = { locals: new Set(), x: true, i: 'i', j: 'j' };
    this.emitElements(args, scope, d.lines, '    ', d.helpers);
    args.forEach((a, q) => d.lines.push(`    acc${q} = acc${q} + ${this.ref(a, scope, `${reductions[q]}.0`)};`));
    d.lines.push('  }');
    reductions.forEach((r, q) => {
      d.lines.push(`  ${storeF32(address(this.nodeSlot.get(r)!, outer), `acc${q}`)}`);
      this.available.add(r);
    });
  }

  /** A parameter's last pass: writes its per-element state and the parameter, in place. */
  private renderFinal(k: number, nested: boolean): void {
    const { graph, step } = this;
    const p = step.params[k]!;
    const info = graph.param(p.name);
    if (info.size === 0) return; // nothing to write
    const writes = [...step.writes].filter(([leaf]) => graph.leaves[leaf]!.domain === 'elem' && graph.leaves[leaf]!.param === p.name).sort((a, b) => a[0] - b[0]);
    const ij = nested && info.rows !== undefined;
    // Four elements per invocation where the lanes share a row (vec4 loads and math; on
    // SwiftShader about 3x faster than one element per invocation), the rest one by one.
    const wide = info.size >= 4 && (!ij || info.cols! % 4 === 0) ? Math.floor(info.size / 4) : 0;
    const tail = info.size - 4 * wide;
    const emit = (lanes: Lanes, count: number, start: number) => {
      const label = lanes === 4 || wide === 0 ? `elem ${p.name}` : `elem ${p.name} tail`;
      const d = this.draft({ kind: 'parallel', label, workgroupSize: WORKGROUP_SIZE, invocations: count, param: k, writesParam: true, lanes });
      d.lines.push(`  let x = gid${start ? ` + ${start}u` : ''};`, `  if (x >= ${start + count}u || S[${OK_WORD}u] == 0u) { return; }`);
      const first = lanes === 4 ? 'x * 4u' : 'x';
      if (ij) d.lines.push(`  let i = ${first} / ${info.cols}u;`, `  let j = ${first} - i * ${info.cols}u;`);
      const scope: Scope = { locals: new Set(), x: true, lanes, ...(ij ? { i: 'i', j: 'j' } : {}) };
      const wideValue = (id: number, code: string) => {
        const domain = graph.node(id).domain;
        return lanes === 4 && domain !== 'elem' && domain !== 'col' ? `vec4<f32>(${code})` : code;
      };
      this.emitElements([p.update.id, ...writes.map(([, v]) => v.id)], scope, d.lines, '  ', d.helpers);
      // Every new value first, then the stores: a store never changes what another one reads.
      writes.forEach(([leaf, value]) => {
        d.writes.add(leaf);
        d.lines.push(`  let w${leaf} = ${wideValue(value.id, this.ref(value.id, scope, `write ${leaf}`))};`);
      });
      d.lines.push(`  let next = P[x] + ${wideValue(p.update.id, this.ref(p.update.id, scope, `update ${k}`))};`);
      for (const [leaf] of writes) {
        const bool = graph.leaves[leaf]!.dtype === 'bool';
        const store = lanes === 4 ? `select(vec4<i32>(0), vec4<i32>(1), w${leaf} != vec4<f32>(0.0))` : `select(0, 1, w${leaf} != 0.0)`;
        d.lines.push(`  L${leaf}[x] = ${bool ? store : `w${leaf}`};`);
      }
      d.lines.push('  P[x] = next;');
    };
    if (wide > 0) emit(4, wide, 0);
    if (tail > 0) emit(1, tail, 4 * wide);
  }


  /** New values of the state that is not per element, and of the signals that are not state, into the scratch buffer. */
  private renderWrites(): void {
    const { graph, step } = this;
    const writes = [...this.leafOut.keys()].map((leaf) => ({ leaf, info: graph.leaves[leaf]!, value: step.writes.get(leaf)! }));
    const signals = step.signals.map((s, k) => ({ s, k, place: this.signalPlaces[k]! })).filter((x) => 'offset' in x.place);
    if (writes.length === 0 && signals.length === 0) return;
    const extent = Math.max(1, ...writes.filter((w) => w.info.domain !== 'step' && w.info.domain !== 'param').map((w) => words(w.info.shape)));
    const d = this.draft({ kind: 'parallel', label: 'writes', workgroupSize: WORKGROUP_SIZE, invocations: extent });
    const scope: Scope = { locals: new Set() };
    d.lines.push(`  let ok = S[${OK_WORD}u] != 0u;`);
    if (signals.length) {
      // A skipped step keeps a signal's previous value (copied into its word), when there is one.
      d.lines.push('  if (gid == 0u) {');
      for (const { s, k, place } of signals) {
        const offset = (place as { offset: number }).offset;
        const value = this.ref(s.value.id, scope, `signal ${k}`);
        const store = s.dtype === 'bool' ? `S[${offset}u] = select(0u, 1u, ${value} != 0.0);` : storeF32(String(offset), value);
        d.lines.push(`    if (ok || ${this.uniform({ kind: 'hasPrevious', signal: k })} == 0.0) { ${store} }`);
      }
      d.lines.push('  }');
    }
    d.lines.push('  if (!ok) { return; }');
    for (const { leaf, info, value } of writes) {
      const out = this.leafOut.get(leaf)!;
      const idx = info.domain === 'window' ? 't' : info.domain === 'row' ? 'i' : info.domain === 'col' ? 'j' : undefined;
      const n = words(info.shape);
      const inner: Scope = idx ? { locals: new Set(), ...indexScope(idx) } : scope;
      const v = this.ref(value.id, inner, `write ${leaf}`);
      const at = address(out, idx);
      // A value kept in the scratch buffer is copied as its bits.
      const raw = /^bitcast<f32>\((S\[[^\]]+\])\)$/.exec(v);
      const store = info.dtype === 'bool' ? `S[${at}] = select(0u, 1u, ${v} != 0.0);` : raw ? `S[${at}] = ${raw[1]};` : storeF32(at, v);
      d.lines.push(idx ? `  if (gid < ${n}u) { let ${idx} = gid; ${store} }` : `  if (gid == 0u) { ${store} }`);
    }
  }

  // ---- assembly -----------------------------------------------------------------------

  private assemble(d: Draft): WgslProgram {
    const body = d.lines
      .flatMap((line) => {
        const m = STORE_LINE.exec(line);
        if (!m) return [line];
        return this.loaded.has(Number(m[2])) ? [`${m[1]}${m[3]}`] : [];
      })
      .join('\n');
    const helpers = new Set<WgslHelper>();
    const add = (h: WgslHelper) => {
      if (helpers.has(h)) return;
      helperDependencies(h).forEach(add);
      helpers.add(h);
    };
    d.helpers.forEach(add);
    const helperText = WGSL_HELPERS.filter((h) => helpers.has(h))
      .map((h) => helperSource(h, uniformRef(UNIFORM_NAN), uniformRef(UNIFORM_INF)))
      .join('\n\n');
    const code = `${helperText}\n${body}`;

    const bindings: WgslBinding[] = [];
    const lanes = d.lanes ?? 1;
    if (/\bS\[/.test(code)) bindings.push({ name: 'S', access: 'read_write', type: 'u32', lanes: 1, buffer: { kind: 'scratch' } });
    if (d.param !== undefined) {
      if (/\bP\[/.test(code)) bindings.push({ name: 'P', access: d.writesParam ? 'read_write' : 'read', type: 'f32', lanes, buffer: { kind: 'param', index: d.param } });
      if (/\bG\[/.test(code)) bindings.push({ name: 'G', access: 'read', type: 'f32', lanes, buffer: { kind: 'grad', index: d.param } });
      const leaves = [...new Set([...code.matchAll(/\bL(\d+)\[/g)].map((m) => Number(m[1])))].sort((a, b) => a - b);
      for (const leaf of leaves) {
        const bool = this.graph.leaves[leaf]!.dtype === 'bool';
        bindings.push({ name: `L${leaf}`, access: d.writes.has(leaf) ? 'read_write' : 'read', type: bool ? 'i32' : 'f32', lanes, buffer: { kind: 'leaf', leaf } });
      }
    }
    d.checks?.forEach((k, q) => bindings.push({ name: `I${q}`, access: 'read', type: 'u32', lanes: 1, buffer: { kind: 'grad', index: k } }));

    // Names by order of appearance, not by node or leaf index: equal programs of different
    // graphs (e.g. one more constant somewhere) get equal sources.
    const renamed = canonicalNames(body, bindings);
    const uniformsUsed = [...code.matchAll(/\bU\.v\[(\d+)\]/g)].map((m) => Number(m[1]));
    const usesUniforms = uniformsUsed.length > 0;
    const decls: string[] = [];
    if (usesUniforms) {
      decls.push(`struct Uniforms { v: array<vec4<f32>, ${Math.max(...uniformsUsed) + 1}> };`, '@group(0) @binding(0) var<uniform> U: Uniforms;');
    }
    renamed.bindings.forEach((b, k) => decls.push(`@group(0) @binding(${k + 1}) var<storage, ${b.access}> ${b.name}: array<${elementType(b)}>;`));
    if (d.kind === 'sum') decls.push(`var<workgroup> partial: array<f32, ${SUM_WORKGROUP_SIZE}>;`);
    if (d.checks) {
      decls.push(
        '',
        '// NaN and ±Infinity are the float32 values whose 8 exponent bits are all ones (tested on the',
        '// bits: WGSL lets a compiler assume that float arithmetic never meets them).',
        'fn nonFinite(bits: u32) -> bool { return (bits & 0x7f800000u) == 0x7f800000u; }',
      );
    }
    const entry =
      d.kind === 'single'
        ? '@compute @workgroup_size(1)\nfn main() {'
        : d.kind === 'sum'
          ? `@compute @workgroup_size(${SUM_WORKGROUP_SIZE})\nfn main(@builtin(local_invocation_index) lid: u32) {`
          : `@compute @workgroup_size(${d.workgroupSize})\nfn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,\n        @builtin(local_invocation_index) lid: u32) {\n  let gid = (wg.y * groups.x + wg.x) * ${d.workgroupSize}u + lid;`;
    const source = `${decls.join('\n')}\n${helperText ? `\n${helperText}\n` : ''}\n${entry}\n${renamed.body}\n}\n`;
    return {
      label: d.label,
      shaderKey: source,
      source,
      usesUniforms,
      bindings: renamed.bindings,
      workgroupSize: d.workgroupSize,
      invocations: d.invocations,
    };
  }
}

/** Renames values (`v`), accumulators (`a`), new values (`w`) and state bindings (`L`) 0, 1, ... by first appearance. */
function canonicalNames(body: string, bindings: readonly WgslBinding[]): { body: string; bindings: WgslBinding[] } {
  const maps = new Map<string, Map<string, number>>();
  const rename = (prefix: string, n: string) => {
    let map = maps.get(prefix);
    if (!map) maps.set(prefix, (map = new Map()));
    let k = map.get(n);
    if (k === undefined) map.set(n, (k = map.size));
    return `${prefix}${k}`;
  };
  const out = bindings.map((b) => (/^L\d+$/.test(b.name) ? { ...b, name: rename('L', b.name.slice(1)) } : b));
  return { body: body.replace(/\b([vawL])(\d+)\b/g, (_, prefix: string, n: string) => rename(prefix, n)), bindings: out };
}

/** The element type of a binding's array. */
export function elementType(b: Pick<WgslBinding, 'type' | 'lanes'>): string {
  return b.lanes === 4 ? `vec4<${b.type}>` : b.type;
}

/** Four consecutive per-column values from the column of lane 0 on (`j`; a row of a multiple of 4 columns holds all four lanes). */
function lanesOf(offset: number, scope: Scope, load: (at: string) => string): string {
  const j = scope.j;
  if (j === undefined) throw new Error('renderWgsl: a per-column value needs the column index, which is not in scope');
  return `vec4<f32>(${[0, 1, 2, 3].map((q) => load(`${offset}u + ${j}${q ? ` + ${q}u` : ''}`)).join(', ')})`;
}

function indexScope(idx: 'i' | 'j' | 't'): Pick<Scope, 'i' | 'j' | 't'> {
  return idx === 'i' ? { i: 'i' } : idx === 'j' ? { j: 'j' } : { t: 't' };
}

function uniformRef(k: number): string {
  return `U.v[${k >> 2}].${'xyzw'[k & 3]}`;
}

function address(offset: number, index: string | undefined): string {
  return index === undefined ? `${offset}u` : `${offset}u + ${index}`;
}

function loadF32(at: string): string {
  return `bitcast<f32>(S[${at}])`;
}

function loadBool(at: string): string {
  return `select(0.0, 1.0, S[${at}] != 0u)`;
}

function storeF32(at: string, value: string): string {
  return `S[${at}] = bitcast<u32>(${value});`;
}

/** Packs the uniform block of `plan` for `step` (f32 entries, 16-byte rows). */
export function packUniforms(plan: WgslPlan, step: TracedStep, hasPrevious: readonly boolean[]): Float32Array<ArrayBuffer> {
  const out = new Float32Array(Math.max(4, Math.ceil(plan.uniforms.length / 4) * 4));
  plan.uniforms.forEach((entry, k) => {
    switch (entry.kind) {
      case 'nan':
        out[k] = Number.NaN;
        break;
      case 'inf':
        out[k] = Number.POSITIVE_INFINITY;
        break;
      case 'loss':
        out[k] = typeof step.loss === 'number' ? step.loss : 0;
        break;
      case 'const':
        out[k] = (step.graph.node(entry.node) as { value: number }).value;
        break;
      case 'uniform':
        out[k] = step.graph.uniforms[entry.slot]!;
        break;
      case 'hasPrevious':
        out[k] = hasPrevious[entry.signal] ? 1 : 0;
        break;
    }
  });
  return out;
}
