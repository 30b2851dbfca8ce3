import { argsOf, dropUnusedLines, findPowThreshold, scheduleStep, type ElementPass, type Node, type Schedule, type TracedStep } from '@emosens/core';
import { WasmPasses, type WasmPassSpec } from './render-wasm.js';

/** The arrays and numbers a rendered step reads and writes. */
export interface JsStepInputs {
  /** Each traced parameter's values (written in place unless `paramsOut` is given), in `step.params` order. */
  readonly params: readonly Float32Array[];
  /** With `RenderJsOptions.freshParams`: where each parameter's new values go (the old ones are only read). */
  readonly paramsOut?: readonly Float32Array[];
  /** Each traced parameter's gradient (read only), same order. */
  readonly grads: readonly Float32Array[];
  /** The state tensors' values by leaf index (`Uint8Array` for bool leaves); written leaves in place. */
  readonly leaves: readonly (Float32Array | Uint8Array | undefined)[];
  readonly loss: number;
  readonly uniforms: readonly number[];
  /** Receives the signals' values, in `step.signals` order. */
  readonly signals: Float64Array;
}

/** A rendered step: call it once per step with fresh inputs. */
export type JsStep = (inputs: JsStepInputs) => void;

/** How values round: `'exact'` rounds every operation to float32, as tfjs's own kernels store each result. */
export type JsPrecision = 'exact' | 'fast';

const UNARY: Record<string, (a: string) => string> = {
  neg: (a) => `(-${a})`,
  abs: (a) => `Math.abs(${a})`,
  sqrt: (a) => `Math.sqrt(${a})`,
  exp: (a) => `Math.exp(${a})`,
  expm1: (a) => `Math.expm1(${a})`,
  log: (a) => `Math.log(${a})`,
  tanh: (a) => `Math.tanh(${a})`,
  sign: (a) => `((${a} > 0) - (${a} < 0))`,
  not: (a) => `+(${a} === 0)`,
};

const BINARY: Record<string, (a: string, b: string) => string> = {
  add: (a, b) => `(${a} + ${b})`,
  sub: (a, b) => `(${a} - ${b})`,
  mul: (a, b) => `(${a} * ${b})`,
  div: (a, b) => `(${a} / ${b})`,
  pow: (a, b) => `Math.pow(${a}, ${b})`,
  min: (a, b) => `Math.min(${a}, ${b})`,
  max: (a, b) => `Math.max(${a}, ${b})`,
  gt: (a, b) => `+(${a} > ${b})`,
  ge: (a, b) => `+(${a} >= ${b})`,
  lt: (a, b) => `+(${a} < ${b})`,
  le: (a, b) => `+(${a} <= ${b})`,
  eq: (a, b) => `+(${a} === ${b})`,
  and: (a, b) => `((${a} !== 0) & (${b} !== 0))`,
  or: (a, b) => `((${a} !== 0) | (${b} !== 0))`,
};

/** Operations whose result is exact already (no rounding needed). */
const EXACT = new Set(['neg', 'abs', 'sign', 'not', 'min', 'max', 'gt', 'ge', 'lt', 'le', 'eq', 'and', 'or', 'select']);

function literal(v: number): string {
  const f = Math.fround(v);
  if (Number.isNaN(f)) return 'NaN';
  if (f === Infinity) return 'Infinity';
  if (f === -Infinity) return '(-Infinity)';
  if (Object.is(f, -0)) return '(-0)';
  return f < 0 ? `(${String(f)})` : String(f);
}

// Comparisons render branch-free (`+(a > b)`, `(a > 0) - (a < 0)`): a branch on the sign of
// random values mispredicts half the time, which made such a pass several times slower.

/**
 * Renders a traced step as one JavaScript function over typed arrays: the schedule's
 * sweeps in order, each parameter's element passes as plain loops, every value of the
 * graph inlined. The op tables above are the whole of this target's math; it knows no
 * block and no optimizer.
 */
export interface RenderJsOptions {
  /**
   * Compile element passes to WebAssembly SIMD (for tensors in a wasm memory): passes are collected here.
   * @internal the wasm memory's own use (`WasmPasses` is not exported)
   */
  readonly wasm?: WasmPasses;
  /** Write each parameter's new values to a separate array (`inputs.paramsOut`) instead of in place. */
  readonly freshParams?: boolean;
}

export function renderJs(step: TracedStep, precision: JsPrecision, schedule: Schedule = scheduleStep(step), options: RenderJsOptions = {}): string {
  const { graph } = step;
  const exact = precision === 'exact';
  const round = (op: string, code: string) => (EXACT.has(op) ? code : `F(${code})`);
  const elemRound = (op: string, code: string) => (exact ? round(op, code) : code);
  const paramIndex = new Map(step.params.map((p, i) => [p.name, i]));
  const lines: string[] = [];
  const setup: string[] = [];
  const emit = (indent: number, line: string) => lines.push('  '.repeat(indent) + line);

  // How to refer to a node's value from code running in `domain` (where row index `i`,
  // column index `j`, element index `x` and window slot `t` are in scope as needed).
  const ref = (id: number): string => {
    const node = graph.node(id);
    // an element input is loaded once per element, into a local (see `load`)
    if (node.domain === 'elem' && (node.op === 'grad' || node.op === 'param' || node.op === 'leaf')) return `e${id}`;
    if (node.op === 'const') return literal(node.value);
    if (node.op === 'leaf') return leafRef(node);
    switch (node.domain) {
      case 'step':
      case 'param':
        return `v${id}`;
      case 'row':
        return `T${id}[i]`;
      case 'col':
        return `T${id}[j]`;
      case 'window':
        return `W${id}[t]`;
      case 'elem':
        return `e${id}`;
    }
  };
  const load = (node: Node): string => {
    if (node.op === 'grad') return `G${paramIndex.get(node.param!)}[x]`;
    if (node.op === 'param') return `P${paramIndex.get(node.param!)}[x]`;
    return leafRef(node as Node & { op: 'leaf' });
  };
  const leafRef = (node: Node & { op: 'leaf' }): string => {
    const L = `L${node.leaf}`;
    switch (node.domain) {
      case 'elem':
        return `${L}[x]`;
      case 'row':
        return `${L}[i]`;
      case 'col':
        return `${L}[j]`;
      case 'window':
        return `${L}[t]`;
      default:
        return `${L}[0]`;
    }
  };
  // The expression computing a (non-reduction) node from its arguments.
  const expr = (node: Node, rounding: (op: string, code: string) => string): string => {
    const a = argsOf(node).map(ref);
    switch (node.op) {
      case 'uniform':
        return `F(U[${node.slot}])`;
      case 'loss':
        return 'F(loss)';
      case 'select':
        return `(${a[0]} !== 0 ? ${a[1]} : ${a[2]})`;
      case 'shiftIn': {
        const n = graph.leaves[node.leaf]!.shape[0]!;
        return `(t < ${n - 1} ? L${node.leaf}[t + 1] : ${a[0]})`;
      }
      case 'sqrt': {
        // Fast: the root of a row value times a column value (factored second moments,
        // both non-negative) as the product of their roots, each taken once per row or
        // column before the loop: one multiply per element instead of a square root.
        const arg = graph.node(node.args[0]);
        if (!exact && rounding !== round && node.domain === 'elem' && arg.op === 'mul') {
          const [x, y] = arg.args.map((id) => graph.node(id));
          const row = x!.domain === 'row' ? x : y!.domain === 'row' ? y : undefined;
          const col = x!.domain === 'col' ? x : y!.domain === 'col' ? y : undefined;
          if (row && col) {
            const info = graph.param(node.param!);
            for (const [v, n, idx] of [
              [row, info.rows!, 'i'],
              [col, info.cols!, 'j'],
            ] as const) {
              const name = `R${v.id}`;
              declareArray(name, n);
              hoisted.set(name, `for (let ${idx} = 0; ${idx} < ${n}; ${idx}++) ${name}[${idx}] = Math.sqrt(${ref(v.id)});`);
            }
            return `(R${row.id}[i] * R${col.id}[j])`;
          }
        }
        break;
      }
      case 'div': {
        // Unrounded (fast) element values divide by a constant as a multiply by its
        // reciprocal: within a float64 ulp, and several times cheaper than a division.
        const divisor = graph.node(node.args[1]);
        if (!exact && rounding !== round && node.domain === 'elem' && divisor.op === 'const' && divisor.value !== 0 && Number.isFinite(divisor.value)) {
          return `(${a[0]} * ${String(1 / Math.fround(divisor.value))})`;
        }
        // ... and by a value that is the same for every element, through a reciprocal
        // computed once before the loop.
        if (!exact && rounding !== round && node.domain === 'elem' && divisor.domain !== 'elem' && divisor.domain !== 'row' && divisor.domain !== 'col') {
          const h = `h${divisor.id}`;
          if (!hoisted.has(h)) hoisted.set(h, `const ${h} = 1 / ${a[1]};`);
          return `(${a[0]} * ${h})`;
        }
        break;
      }
    }
    if (node.op in UNARY) return rounding(node.op, UNARY[node.op]!(a[0]!));
    if (node.op in BINARY) return rounding(node.op, BINARY[node.op]!(a[0]!, a[1]!));
    throw new Error(`renderJs: no rendering for op '${node.op}'`);
  };
  // A base that is already a float32 value (the abs of an input), so its test needs no rounding.
  const exactBase = (id: number) => {
    const node = graph.node(id);
    return node.op === 'abs' && isInput(graph.node(node.args[0]));
  };
  const isInput = (node: Node) => node.op === 'const' || node.op === 'grad' || node.op === 'param' || node.op === 'leaf';

  // Values written to a float32 state leaf (fast precision rounds them where they are made).
  const storedFloat = new Set<number>();
  for (const [leaf, value] of step.writes) if (graph.leaves[leaf]!.dtype === 'float32') storedFloat.add(value.id);

  let temp = 0;
  let usesCutoff = false;
  // per pass: values computed once before its loop (reciprocals of divisors)
  const hoisted = new Map<string, string>();
  const declaredCutoffs = new Set<number>();
  const arrays = new Set<string>();
  const declareArray = (name: string, length: number) => {
    if (!arrays.has(name)) {
      arrays.add(name);
      setup.push(`const ${name} = new Float64Array(${Math.max(length, 1)});`);
    }
  };

  /**
   * The update `p + u` of parameter `k` as a linear form over per-element values with
   * factors that are the same for every element (`p + ((m/d) s + p wd)(-lr)` becomes
   * `p (1 - lr wd) + (m/d) (-lr s)`), the factors computed once before the loop. Fast
   * precision only: the float64 reassociation agrees within the golden tolerance.
   */
  const foldedUpdate = (k: number, update: number): string => {
    type Term = { atom: number; coef: string };
    // the same for every element: not per element, and not per row or column either (a
    // factored moment's row and column values differ between elements)
    const uniform = (id: number) => !['elem', 'row', 'col'].includes(graph.node(id).domain);
    const scale = (terms: Term[], factor: string): Term[] => terms.map((t) => ({ atom: t.atom, coef: t.coef === '1' ? factor : `(${t.coef} * ${factor})` }));
    const linear = (id: number, depth: number): Term[] => {
      const node = graph.node(id);
      if (depth < 12 && node.domain === 'elem') {
        const [a, b] = argsOf(node);
        switch (node.op) {
          case 'add':
            return [...linear(a!, depth + 1), ...linear(b!, depth + 1)];
          case 'sub':
            return [...linear(a!, depth + 1), ...scale(linear(b!, depth + 1), '-1')];
          case 'neg':
            return scale(linear(a!, depth + 1), '-1');
          case 'mul':
            if (uniform(b!)) return scale(linear(a!, depth + 1), ref(b!));
            if (uniform(a!)) return scale(linear(b!, depth + 1), ref(a!));
            break;
          case 'div':
            if (uniform(b!)) return scale(linear(a!, depth + 1), `(1 / ${ref(b!)})`);
            break;
        }
      }
      return [{ atom: id, coef: '1' }];
    };
    const self = step.params[k]!;
    const paramNode = graph.nodes.find((n) => n.op === 'param' && n.param === self.name)?.id;
    const byAtom = new Map<number, string[]>();
    for (const t of linear(update, 0)) byAtom.set(t.atom, [...(byAtom.get(t.atom) ?? []), t.coef]);
    if (byAtom.size === 1 && byAtom.has(update)) return `P${k}[x] + ${ref(update)}`;
    const parts: string[] = [];
    let keep = '1';
    for (const [atom, coefs] of byAtom) {
      const sum = coefs.length === 1 ? coefs[0]! : `(${coefs.join(' + ')})`;
      if (atom === paramNode) {
        keep = `1 + ${sum}`;
        continue;
      }
      const h = `f${k}_${atom}`;
      if (uniform(atom)) {
        hoisted.set(h, `const ${h} = ${ref(atom)} * ${sum};`);
        parts.push(h);
      } else {
        hoisted.set(h, `const ${h} = ${sum};`);
        parts.push(`${ref(atom)} * ${h}`);
      }
    }
    hoisted.set(`keep${k}`, `const keep${k} = ${keep};`);
    return `P${k}[x] * keep${k}${parts.map((p) => ` + ${p}`).join('')}`;
  };

  // An element pass as a WebAssembly SIMD function, when every op it needs has a lane form.
  const simdPass = (name: string, k: number, pass: ElementPass, cutoffs: ReadonlyMap<number, string>) => {
    const wasm = options.wasm!;
    if (pass.reductions.some((r) => graph.node(r).op !== 'sum')) return undefined;
    const stores: { array: string; node: number; add: boolean; from?: string }[] = [];
    if (pass.final) {
      for (const [leaf, value] of step.writes) {
        const l = graph.leaves[leaf]!;
        if (l.domain !== 'elem' || l.param !== name) continue;
        if (l.dtype !== 'float32') return undefined;
        stores.push({ array: `L${leaf}`, node: value.id, add: false });
      }
      stores.push({ array: options.freshParams ? `Q${k}` : `P${k}`, node: step.params[k]!.update.id, add: true, from: `P${k}` });
    }
    const cuts = new Map<number, { base: number; cutoff: string }>();
    for (const id of cutoffs.keys()) cuts.set(id, { base: findPowThreshold(graph, id)!.base, cutoff: `c${id}` });
    const spec: WasmPassSpec = {
      nodes: pass.nodes,
      sums: pass.reductions,
      stores,
      cutoffs: cuts,
      scalarRef: ref,
      arrayOf: (node) => (node.op === 'grad' ? `G${k}` : node.op === 'param' ? `P${k}` : `L${(node as { leaf: number }).leaf}`),
    };
    return WasmPasses.supports(step, spec) ? wasm.add(step, spec) : undefined;
  };

  schedule.sweeps.forEach((sweep, s) => {
    emit(1, `// sweep ${s}`);
    for (const id of sweep.step) {
      const node = graph.node(id);
      if (isInput(node)) continue;
      // Rounded after each addition, left to right, as tf.addN accumulates in a Float32Array
      // (F(a + b + c) rounds once and differs from the composed step in the last bit).
      if (node.op === 'sumParams') {
        const terms = argsOf(node).map(ref);
        emit(1, `const v${id} = ${terms.length === 1 ? `F(${terms[0]!})` : terms.reduce((acc, x) => `F(${acc} + ${x})`)};`);
      } else if (node.op === 'windowSum') {
        const arg = argsOf(node)[0]!;
        const n = graph.node(arg).length!;
        const acc = `s${temp++}`;
        emit(1, `let ${acc} = 0;`);
        emit(1, `for (let t = 0; t < ${n}; t++) ${acc} += ${ref(arg)};`);
        emit(1, `const v${id} = F(${acc});`);
      } else emit(1, `const v${id} = ${expr(node, round)};`);
    }
    const windowNodes = sweep.window.filter((id) => !isInput(graph.node(id)));
    if (windowNodes.length) {
      const n = graph.node(windowNodes[0]!).length!;
      for (const id of windowNodes) declareArray(`W${id}`, n);
      emit(1, `for (let t = 0; t < ${n}; t++) {`);
      for (const id of windowNodes) emit(2, `W${id}[t] = ${expr(graph.node(id), round)};`);
      emit(1, '}');
    }
    for (const ps of sweep.params) {
      const info = graph.param(ps.name);
      const k = paramIndex.get(ps.name);
      for (const id of ps.scalars) {
        const node = graph.node(id);
        if (isInput(node)) continue;
        if (node.op === 'sum') {
          const arg = graph.node(argsOf(node)[0]!);
          if (arg.domain === 'elem') emit(1, `const v${id} = F(a${id});`);
          else {
            const n = arg.domain === 'row' ? info.rows! : info.cols!;
            const idx = arg.domain === 'row' ? 'i' : 'j';
            const acc = `s${temp++}`;
            emit(1, `let ${acc} = 0;`);
            emit(1, `for (let ${idx} = 0; ${idx} < ${n}; ${idx}++) ${acc} += ${ref(arg.id)};`);
            emit(1, `const v${id} = F(${acc});`);
          }
        } else emit(1, `const v${id} = ${expr(node, round)};`);
      }
      for (const [list, n, idx] of [
        [ps.rows, info.rows ?? 0, 'i'],
        [ps.cols, info.cols ?? 0, 'j'],
      ] as const) {
        const computed = list.filter((id) => !isInput(graph.node(id)));
        for (const id of computed) declareArray(`T${id}`, n);
        const own = computed.filter((id) => graph.node(id).op !== 'rowSum' && graph.node(id).op !== 'colSum');
        if (own.length === 0) continue;
        emit(1, `for (let ${idx} = 0; ${idx} < ${n}; ${idx}++) {`);
        for (const id of own) emit(2, `T${id}[${idx}] = ${expr(graph.node(id), round)};`);
        emit(1, '}');
      }
      const pass = ps.pass;
      if (pass === undefined) continue;
      if (k === undefined) throw new Error(`renderJs: parameter '${ps.name}' has element work but no gradient`);
      for (const r of pass.reductions) {
        const node = graph.node(r);
        if (node.op === 'sum') emit(1, `let a${r} = 0;`);
        else {
          declareArray(`T${r}`, node.op === 'rowSum' ? info.rows! : info.cols!);
          emit(1, `T${r}.fill(0);`);
        }
      }
      // Threshold tests of a power, `pow(x, c) >= t` with x >= 0, c > 0 and t the same for
      // every element, become `x >= cutoff` with the cutoff found once (the same decision).
      const cutoffs = new Map<number, string>();
      for (const id of pass.nodes) {
        const found = findPowThreshold(graph, id);
        if (found === undefined) continue;
        if (!declaredCutoffs.has(id)) emit(1, `const c${id} = powCutoff(${ref(found.threshold)}, ${literal(found.exponent)}, ${found.strict});`);
        cutoffs.set(id, `(${exactBase(found.base) ? ref(found.base) : `F(${ref(found.base)})`} >= c${id} ? 1 : 0)`);
        usesCutoff = true;
        declaredCutoffs.add(id);
      }
      const makeBody = (rounding: (op: string, code: string) => string): string[] => {
        const body: string[] = [];
        for (const id of pass.nodes) {
          const node = graph.node(id);
          // each input element is read once (V8 does not merge repeated typed-array loads)
          if (node.op === 'grad' || node.op === 'param' || node.op === 'leaf') body.push(`const e${id} = ${load(node)};`);
          else if (!isInput(node)) {
            const code = cutoffs.get(id) ?? expr(node, rounding);
            // Fast precision computes in float64, but a value the step stores in a float32
            // state leaf is used as stored (rounded once here), as the composed step uses
            // the float32 tensor it keeps: a finite gradient of 1e30 makes g * g = 1e60 finite
            // in float64 but Infinity in float32, and the update must divide by that
            // Infinity on both paths (moving the weight by 0), not by the float64 value.
            // (About 5% per step. Intermediates stay float64: rounding each product of two
            // element values as well would close the narrow band 1.8e19 < |g| < 5.8e20, where
            // g * g overflows in float32 but (1 - b2) g^2 does not, at about 20% per step;
            // 'exact' precision agrees there too.)
            body.push(`const e${id} = ${rounding !== round && storedFloat.has(id) && !EXACT.has(node.op) && !cutoffs.has(id) ? `F(${code})` : code};`);
          }
        }
        for (const r of pass.reductions) {
          const node = graph.node(r);
          const v = ref(argsOf(node)[0]!);
          // a row's sum adds up in a local over the inner loop
          body.push(node.op === 'sum' ? `a${r} += ${v};` : node.op === 'rowSum' ? `q${r} += ${v};` : `T${r}[j] += ${v};`);
        }
        if (pass.final) {
          // the new parameter first (it may read old state values), then the writes
          const update = step.params[k]!.update;
          body.push(`const n${k} = ${rounding === round || exact ? `P${k}[x] + ${ref(update.id)}` : foldedUpdate(k, update.id)};`);
          for (const [leaf, value] of step.writes) {
            const l = graph.leaves[leaf]!;
            if (l.domain !== 'elem' || l.param !== ps.name) continue;
            body.push(l.dtype === 'bool' ? `L${leaf}[x] = ${ref(value.id)} !== 0 ? 1 : 0;` : `L${leaf}[x] = ${ref(value.id)};`);
          }
          body.push(`${options.freshParams ? 'Q' : 'P'}${k}[x] = n${k};`);
        }
        dropUnusedLines(body, /^const (e\d+) = /);
        return body;
      };
      const simd = options.wasm && !pass.nested ? simdPass(ps.name, k, pass, cutoffs) : undefined;
      if (simd !== undefined) {
        // four elements at a time in WebAssembly, the rest here, rounded as float32 like the lanes
        const n4 = info.size - (info.size % 4);
        const r = `r${temp++}`;
        const args = [String(n4 * 4), ...simd.arrays.map((a) => `${a}.byteOffset`), ...simd.scalars];
        emit(1, `const ${r} = K[${simd.index}](${args.join(', ')});`);
        simd.sums.forEach((id, q) => emit(1, `a${id} += ${simd.sums.length === 1 ? r : `${r}[${q}]`};`));
        if (n4 < info.size) {
          emit(1, `for (let x = ${n4}; x < ${info.size}; x++) {`);
          for (const line of makeBody(round)) emit(2, line);
          emit(1, '}');
        }
        continue;
      }
      hoisted.clear();
      const body = makeBody(elemRound);
      // a block, so that each pass's hoisted values are its own
      if (hoisted.size > 0) emit(1, '{');
      for (const line of hoisted.values()) emit(1, line);
      if (pass.nested) {
        const rowSums = pass.reductions.filter((r) => graph.node(r).op === 'rowSum');
        emit(1, `for (let i = 0, x = 0; i < ${info.rows}; i++) {`);
        for (const r of rowSums) emit(2, `let q${r} = 0;`);
        emit(2, `for (let j = 0; j < ${info.cols}; j++, x++) {`);
        for (const line of body) emit(3, line);
        emit(2, '}');
        for (const r of rowSums) emit(2, `T${r}[i] = q${r};`);
        emit(1, '}');
      } else {
        emit(1, `for (let x = 0; x < ${info.size}; x++) {`);
        for (const line of body) emit(2, line);
        emit(1, '}');
      }
      if (hoisted.size > 0) emit(1, '}');
      for (const r of pass.reductions) {
        const node = graph.node(r);
        if (node.op !== 'sum') {
          const n = node.op === 'rowSum' ? info.rows! : info.cols!;
          emit(1, `for (let q = 0; q < ${n}; q++) T${r}[q] = F(T${r}[q]);`);
        }
      }
    }
  });

  // Writes that are not per element, after every sweep (nothing reads the old values later).
  emit(1, '// writes');
  for (const [leaf, value] of step.writes) {
    const l = graph.leaves[leaf]!;
    const store = (v: string) => (l.dtype === 'bool' ? `${v} !== 0 ? 1 : 0` : v);
    switch (l.domain) {
      case 'elem':
        break;
      case 'step':
      case 'param':
        emit(1, `L${leaf}[0] = ${store(ref(value.id))};`);
        break;
      case 'window':
        emit(1, `for (let t = 0; t < ${l.shape[0]}; t++) L${leaf}[t] = ${store(ref(value.id))};`);
        break;
      case 'row':
      case 'col': {
        const idx = l.domain === 'row' ? 'i' : 'j';
        emit(1, `for (let ${idx} = 0; ${idx} < ${l.shape.length === 1 ? l.shape[0] : l.shape.reduce((a, b) => a * b, 1)}; ${idx}++) L${leaf}[${idx}] = ${store(ref(value.id))};`);
        break;
      }
    }
  }
  step.signals.forEach((s, i) => emit(1, `S[${i}] = ${ref(s.value.id)};`));

  const used = new Set<string>();
  const text = lines.join('\n');
  for (const m of text.matchAll(/\b([PQGL])(\d+)\b/g)) used.add(`${m[1]}${m[2]}`);
  const unpack = [...used]
    .sort()
    .map((name) => {
      const source = { P: 'inputs.params', Q: 'inputs.paramsOut', G: 'inputs.grads', L: 'inputs.leaves' }[name[0] as 'P' | 'Q' | 'G' | 'L'];
      return `const ${name} = ${source}[${name.slice(1)}];`;
    });
  return [
    '"use strict";',
    'const F = Math.fround;',
    ...(usesCutoff ? [POW_CUTOFF] : []),
    ...setup,
    'return function fusedStep(inputs) {',
    '  const loss = inputs.loss, U = inputs.uniforms, S = inputs.signals;',
    ...unpack.map((l) => `  ${l}`),
    text,
    '};',
  ].join('\n');
}

/**
 * The smallest non-negative float32 `x` with `fround(pow(x, c)) >= t` (`> t` when strict),
 * by bisection over float32 bit patterns; NaN when no `x` passes. `pow(x, c)` for `c > 0`
 * and rounding are non-decreasing in `x`, so `x >= cutoff` is exactly the test.
 */
const POW_CUTOFF = `function powCutoff(t, c, strict) {
  const pass = (x) => (strict ? F(Math.pow(x, c)) > t : F(Math.pow(x, c)) >= t);
  if (pass(0)) return 0;
  if (!pass(Infinity)) return NaN;
  const u = new Uint32Array(1), f = new Float32Array(u.buffer);
  let lo = 0, hi = 0x7f800000;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    u[0] = mid;
    if (pass(f[0])) hi = mid; else lo = mid;
  }
  u[0] = hi;
  return f[0];
}`;

const compiled = new Map<string, JsStep>();

/**
 * The rendered step for `step`'s program, compiled once per program, precision and memory.
 * With `memory` (the wasm backend's), element passes run as WebAssembly SIMD functions
 * that read and write the tensors in that memory.
 */
export function compileJs(step: TracedStep, precision: JsPrecision, memory?: WebAssembly.Memory, freshParams = false): JsStep {
  const key = `${precision}:${memory ? 'simd' : 'js'}:${freshParams ? 'fresh' : 'inplace'}:${step.key}`;
  let fn = compiled.get(key);
  if (fn === undefined) {
    const wasm = memory ? new WasmPasses() : undefined;
    const source = renderJs(step, precision, scheduleStep(step), { ...(wasm ? { wasm } : {}), freshParams });
    const kernels = wasm && memory ? wasm.instantiate(memory) : [];
    fn = new Function('K', source)(kernels) as JsStep;
    if (compiled.size > 256) compiled.clear();
    compiled.set(key, fn);
  }
  return fn;
}
