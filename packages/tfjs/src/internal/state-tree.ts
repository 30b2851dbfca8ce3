// Tree helpers the optimizer needs on top of @emosens/core's flattenState /
// unflattenState: walking leaves with their path segments (so a path can be rewritten
// per segment when variables are renamed).
import type { Tensor } from '@tensorflow/tfjs-core';
import { isTensor } from '@emosens/core';

/** The kinds of leaf a state tree can hold. */
export type Leaf = Tensor | number | boolean | string;

export function isLeaf(value: unknown): value is Leaf {
  return isTensor(value) || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isTensor(value);
}

/** One leaf with the keys and indices that lead to it (joined with `/`, they give its path). */
export interface LeafAt {
  readonly segments: readonly string[];
  readonly value: Leaf;
}

/**
 * Lists the leaves of a tree with their path segments, in the same order and with the
 * same paths (once joined with `/`) as `flattenState` of @emosens/core.
 */
export function leavesWithSegments(tree: unknown): LeafAt[] {
  const out: LeafAt[] = [];
  const visit = (value: unknown, segments: string[]): void => {
    if (isLeaf(value)) out.push({ segments, value });
    else if (Array.isArray(value)) value.forEach((v, i) => visit(v, [...segments, String(i)]));
    else if (isPlainObject(value)) {
      for (const key of Object.keys(value).sort()) visit(value[key], [...segments, key]);
    }
  };
  visit(tree, []);
  return out;
}
