import type { Domain, Graph, Node } from './graph.js';
import type { TracedStep } from './trace.js';

/** What one parameter computes in one sweep. */
export interface ParamSweep {
  readonly name: string;
  /** `param` values computed this sweep (kept until the end of the step), in order. */
  readonly scalars: readonly number[];
  /** `row` and `col` values computed this sweep, one loop each (kept per row / column). */
  readonly rows: readonly number[];
  readonly cols: readonly number[];
  /**
   * The pass over the parameter's elements this sweep, if any: the reductions it adds up
   * (for the next sweep), and on the parameter's last pass its writes (the parameter and
   * its per-element state).
   */
  readonly pass?: ElementPass;
}

/** One pass over a parameter's elements. */
export interface ElementPass {
  /** Element values computed per element, in order (what the reductions and writes need). */
  readonly nodes: readonly number[];
  /** Reductions accumulated: `sum` (one value), `rowSum` (per row), `colSum` (per column). */
  readonly reductions: readonly number[];
  /** Whether this is the parameter's last pass, which writes it and its per-element state. */
  readonly final: boolean;
  /** Whether the pass needs row and column indices (reads a row/col value or reduces per row/col). */
  readonly nested: boolean;
}

/** The work between two reductions: step values, windows, then each parameter. */
export interface Sweep {
  readonly step: readonly number[];
  readonly window: readonly number[];
  readonly params: readonly ParamSweep[];
}

/**
 * The passes of a traced step (Halide's "schedule" to the blocks' "algorithm"). A value's
 * sweep is the number of reductions on its longest path from the inputs. Values that are
 * not per element are computed once, in their sweep, and kept; per-element values are
 * recomputed in each pass that needs them (from inputs that no pass has written yet), so
 * a parameter and its state are written only by its last pass, after everything that reads
 * their old values. Every target renders this schedule.
 */
export interface Schedule {
  readonly sweeps: readonly Sweep[];
  /** Nodes every output depends on (the rest of the graph is dropped). */
  readonly used: ReadonlySet<number>;
  /** Each used node's sweep. */
  readonly sweepOf: readonly number[];
  /** For each parameter, the sweep of its last (writing) pass. */
  readonly finalSweep: ReadonlyMap<string, number>;
}

const ELEM_REDUCTIONS = new Set(['sum', 'rowSum', 'colSum']);

/** Whether `node` is a reduction that needs a pass over its argument's elements. */
export function isElemReduction(graph: Graph, node: Node): boolean {
  return ELEM_REDUCTIONS.has(node.op) && graph.node((node as { args: readonly number[] }).args[0]!).domain === 'elem';
}

export function argsOf(node: Node): readonly number[] {
  return 'args' in node ? node.args : [];
}

export function scheduleStep(step: TracedStep): Schedule {
  const { graph } = step;
  const roots = [...step.params.map((p) => p.update.id), ...[...step.writes.values()].map((s) => s.id), ...step.signals.map((s) => s.value.id)];
  const used = new Set<number>();
  const stack = [...roots];
  while (stack.length) {
    const id = stack.pop()!;
    if (used.has(id)) continue;
    used.add(id);
    stack.push(...argsOf(graph.node(id)));
  }
  const ids = [...used].sort((a, b) => a - b);
  const sweepOf: number[] = [];
  const reductions = new Set(['sum', 'rowSum', 'colSum', 'sumParams', 'windowSum']);
  for (const id of ids) {
    const node = graph.node(id);
    const base = argsOf(node).reduce((m, a) => Math.max(m, sweepOf[a]!), 0);
    sweepOf[id] = reductions.has(node.op) ? base + 1 : base;
  }

  // Each parameter's last pass: after its outputs and after every reduction over its elements.
  const finalSweep = new Map<string, number>();
  const bump = (name: string, s: number) => finalSweep.set(name, Math.max(finalSweep.get(name) ?? 0, s));
  for (const p of step.params) bump(p.name, sweepOf[p.update.id]!);
  for (const [leaf, value] of step.writes) {
    const info = graph.leaves[leaf]!;
    if (info.domain === 'elem') bump(info.param!, sweepOf[value.id]!);
  }
  for (const id of ids) {
    const node = graph.node(id);
    if (isElemReduction(graph, node)) bump(node.param!, sweepOf[id]! - 1);
  }

  const count = ids.reduce((m, id) => Math.max(m, sweepOf[id]!), 0) + 1;
  const sweeps: Sweep[] = [];
  const names = [...graph.params.keys()];
  for (let s = 0; s < count; s++) {
    const at = (d: Domain, param?: string) =>
      ids.filter((id) => sweepOf[id] === s && graph.node(id).domain === d && graph.node(id).param === param && graph.node(id).op !== 'const');
    const params: ParamSweep[] = [];
    for (const name of names) {
      const reductionsHere = ids.filter((id) => {
        const node = graph.node(id);
        return node.param === name && sweepOf[id] === s + 1 && isElemReduction(graph, node);
      });
      const final = finalSweep.get(name) === s;
      let pass: ElementPass | undefined;
      if (reductionsHere.length > 0 || final) {
        const rootsHere = [...reductionsHere.map((r) => argsOf(graph.node(r))[0]!)];
        if (final) {
          for (const p of step.params) if (p.name === name) rootsHere.push(p.update.id);
          for (const [leaf, value] of step.writes) if (graph.leaves[leaf]!.domain === 'elem' && graph.leaves[leaf]!.param === name) rootsHere.push(value.id);
        }
        const nodes = elementClosure(graph, rootsHere);
        const nested =
          reductionsHere.some((r) => graph.node(r).op !== 'sum') ||
          rootsHere.some((id) => ['row', 'col'].includes(graph.node(id).domain)) ||
          nodes.some((id) => argsOf(graph.node(id)).some((a) => ['row', 'col'].includes(graph.node(a).domain))) ||
          nodes.some((id) => graph.node(id).op === 'leaf' && graph.node(id).domain !== 'elem');
        pass = { nodes, reductions: reductionsHere, final, nested };
      }
      const scalars = at('param', name);
      const rows = at('row', name);
      const cols = at('col', name);
      if (scalars.length || rows.length || cols.length || pass) params.push({ name, scalars, rows, cols, ...(pass ? { pass } : {}) });
    }
    sweeps.push({ step: at('step'), window: at('window'), params });
  }
  return { sweeps, used, sweepOf, finalSweep };
}

/** The element values `roots` need, in order (stopping at values that are not per element). */
function elementClosure(graph: Graph, roots: readonly number[]): number[] {
  const out = new Set<number>();
  const stack = [...roots];
  while (stack.length) {
    const id = stack.pop()!;
    const node = graph.node(id);
    if (out.has(id) || node.domain !== 'elem') continue;
    out.add(id);
    stack.push(...argsOf(node));
  }
  return [...out].sort((a, b) => a - b);
}
