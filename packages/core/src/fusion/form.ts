import { FusionDecline, type LeafRef, type Sym } from './graph.js';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { GradientTransformation, SignalName, StateValue } from '../types.js';

/** Symbolic values by parameter name: the fused form's gradients, updates and parameters. */
export type SymMap = Readonly<Record<string, Sym>>;

/**
 * A state as a fused form sees it: the block's state with every tensor replaced by a
 * {@link LeafRef} (to read, or to return unchanged) and, in the returned state, by the
 * {@link Sym} of its new value. Numbers, booleans and strings stay plain (host) values.
 */
export type SymTree = Sym | LeafRef | number | boolean | string | readonly SymTree[] | { readonly [key: string]: SymTree };

/** What a fused form has besides updates, state and parameters: the loss and the signals. */
export interface FusionContext {
  /** This step's loss (a step value). Throws `MISSING_LOSS`, naming `block`, when none was given. */
  loss(block: string): Sym;
  /** Publishes a step value as signal `name` (`dtype` `'bool'` for 0/1 flags). */
  publish(name: SignalName, value: Sym, block: string, dtype?: 'float32' | 'bool'): void;
  /** Reads a signal published earlier in the step (`MISSING_SIGNAL` otherwise). */
  read(name: SignalName, block: string): Sym;
  has(name: SignalName): boolean;
  /**
   * This step's loss as a JavaScript number, for host rules in float64 (see
   * `StepContext.lossValue`: a tensor loss costs one read). A fused step whose form reads it
   * is traced again every step.
   */
  lossValue(block: string): number;
  /** Publishes a host number for later blocks of this step (see `StepContext.publishValue`). */
  publishValue(name: string, value: number, block: string): void;
  /** Reads a host number published earlier this step. */
  readValue(name: string, block: string): number;
  hasValue(name: string): boolean;
  /** The parameter tensor named `name`, for its shape and dtype only (its values are not this step's to read). */
  parameter(name: string): Tensor;
  /**
   * Runs a transform that has no fused form on the values so far, with tensors (only while
   * a composed update is derived, see `composedUpdate`; absent when a step is traced for
   * fusion). Its updates come back as values, its state as an opaque part of the state.
   */
  eager?(transform: GradientTransformation<StateValue>, updates: SymMap, state: SymTree, params: SymMap): { updates: SymMap; state: SymTree };
}

/**
 * A block's fused form: its `update`, written once over symbolic values with the
 * operations of `fx`, so that a compiler can turn any chain of such blocks into one pass
 * per parameter on every backend target. It must compute what the composed `update`
 * computes, in the same order of operations, and return the state in the same layout.
 */
export interface FusionForm {
  update(updates: SymMap, state: SymTree, params: SymMap, context: FusionContext): { updates: SymMap; state: SymTree };
}

/**
 * The form a wrapper runs its inner block through: the inner block's fused form when it has
 * one; otherwise one that hands the inner block its tensors (`FusionContext.eager`), which
 * only a composed update can (a traced step declines, naming the block).
 */
export function innerForm(inner: { readonly name: string; readonly fusion?: Fusion }): FusionForm {
  if (isFusionForm(inner.fusion)) return inner.fusion;
  return {
    update(updates, state, params, context) {
      if (context.eager === undefined) throw new FusionDecline(fusionBlocker(inner.name, inner.fusion)!);
      return context.eager(inner as GradientTransformation<StateValue>, updates, state, params);
    },
  };
}

/** A transform's fused form, or why it has none (e.g. a member of a chain without one). */
export type Fusion = FusionForm | { readonly blocked: string };

/** Whether `fusion` is a usable form. */
export function isFusionForm(fusion: Fusion | undefined): fusion is FusionForm {
  return fusion !== undefined && typeof (fusion as Partial<FusionForm>).update === 'function';
}

/** The reason `fusion` is not usable by the transform named `name`. */
export function fusionBlocker(name: string, fusion: Fusion | undefined): string | undefined {
  if (fusion === undefined) return `block '${name}' has no fused form`;
  return isFusionForm(fusion) ? undefined : fusion.blocked;
}

/**
 * The fused form of a transform built from `members`, or the first member's reason not
 * to fuse. `build` gets the members' forms, in order.
 */
export function combineFusion(
  members: readonly { readonly name: string; readonly fusion?: Fusion }[],
  build: (forms: readonly FusionForm[]) => FusionForm,
): Fusion {
  const forms: FusionForm[] = [];
  for (const m of members) {
    const reason = fusionBlocker(m.name, m.fusion);
    if (reason !== undefined) return { blocked: reason };
    forms.push(m.fusion as FusionForm);
  }
  return build(forms);
}
