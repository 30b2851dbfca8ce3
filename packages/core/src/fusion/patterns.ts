import type { Graph } from './graph.js';

/** A threshold test on a power, found by {@link findPowThreshold}. */
export interface PowThreshold {
  /** The node of the base (never negative). */
  readonly base: number;
  /** The constant exponent's node, and its value (positive). */
  readonly exponentNode: number;
  readonly exponent: number;
  /** The threshold's node: a step or parameter value, the same for every element. */
  readonly threshold: number;
  /** `>` rather than `>=`. */
  readonly strict: boolean;
}

/**
 * Whether node `id` is a test `pow(base, c) >= t` (or `>`) with a base that is never
 * negative (`abs`, `sqrt` or a square), a positive constant `c` and a threshold that is the
 * same for every element: what the Emo filter computes per element. Since `pow(x, c)` and
 * rounding never decrease as `x` grows, a target may decide it as `base >= cutoff` with the
 * cutoff found once per step (the same decision, without a `pow` per element).
 */
export function findPowThreshold(graph: Graph, id: number): PowThreshold | undefined {
  const node = graph.node(id);
  if (node.op !== 'ge' && node.op !== 'gt') return undefined;
  const [powId, threshold] = node.args;
  const power = graph.node(powId);
  const t = graph.node(threshold);
  if (power.op !== 'pow' || (t.domain !== 'step' && t.domain !== 'param')) return undefined;
  const [base, exponentNode] = power.args;
  const exponent = graph.node(exponentNode);
  if (exponent.op !== 'const' || !(exponent.value > 0)) return undefined;
  const b = graph.node(base);
  const nonNegative = b.op === 'abs' || b.op === 'sqrt' || (b.op === 'mul' && b.args[0] === b.args[1]);
  return nonNegative ? { base, exponentNode, exponent: exponent.value, threshold, strict: node.op === 'gt' } : undefined;
}

/**
 * Removes the lines declaring a value (`declaration` captures its name) that no other line
 * uses, repeatedly: what a renderer's pass body no longer needs after a rewrite (e.g. the
 * `pow` a cutoff test replaced).
 */
export function dropUnusedLines(lines: string[], declaration: RegExp): void {
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = lines.length - 1; k >= 0; k--) {
      const m = declaration.exec(lines[k]!);
      if (m === null) continue;
      const name = new RegExp(`\\b${m[1]}\\b`);
      if (!lines.some((line, j) => j !== k && name.test(line))) {
        lines.splice(k, 1);
        changed = true;
      }
    }
  }
}
