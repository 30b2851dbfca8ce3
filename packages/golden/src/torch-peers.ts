import { chain, flattenState, type GradientTransformation, type StateValue } from '@emosens/core';
import { clip, clipByGlobalNorm, lookahead, multiSteps, reduceOnPlateau } from '@emosens/modifiers';
import { adagrad, adam, adamax, adamw, lion, nadam, radam, rmsprop, sgd } from '@emosens/optimizers';
import type * as tf from '@tensorflow/tfjs-core';
import { GoldenFormatError, type GoldenCase } from './format.js';
import { scheduleFromTorch, type TorchScheduleSpec } from './torch-schedule.js';

// A torch-peers recording describes its optimizer in fields (`optimizer`, `hyper`,
// `schedule`, `clip`, `accumulate`, `lookahead`); this module builds the emosens chain
// from those fields alone, never from the case name, so any recording in that format runs.

type Obj = Readonly<Record<string, unknown>>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** torch's snake_case constructor arguments -> the emosens camelCase options. */
function camelCase(hyper: Obj): Record<string, unknown> {
  return Object.fromEntries(Object.entries(hyper).map(([k, v]) => [k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), v]));
}

/** The ready-made optimizers by torch class, each taking torch's arguments in camelCase. */
const OPTIMIZERS: Readonly<Record<string, (options: Record<string, unknown>) => GradientTransformation<StateValue>>> = {
  SGD: (o) => sgd(o),
  RMSprop: (o) => rmsprop(o),
  Adagrad: (o) => adagrad(o),
  Adamax: (o) => adamax(o),
  NAdam: (o) => nadam(o),
  RAdam: (o) => radam(o),
  Adam: (o) => adam(o),
  AdamW: (o) => adamw(o),
  Lion: (o) => lion(o),
};

/** torch's default learning rate per class, where a schedule needs the base lr (SGD has none). */
const DEFAULT_LR: Readonly<Record<string, number>> = {
  SGD: 1e-3, RMSprop: 1e-2, Adagrad: 1e-2, Adamax: 2e-3, NAdam: 2e-3, RAdam: 1e-3, Adam: 1e-3, AdamW: 1e-3, Lion: 1e-4,
};

/** The torch classes a recording's `optimizer` field may name. */
export const TORCH_CLASSES: readonly string[] = Object.keys(OPTIMIZERS);

/** Whether a recording describes its optimizer in fields (a torch-peers recording). */
export function isTorchPeerCase(golden: GoldenCase): boolean {
  return typeof golden.optimizer === 'string' && golden.optimizer in OPTIMIZERS;
}

/**
 * The emosens transformation of a torch-peers recording, from its fields:
 *
 * ```
 * [multiSteps(everyK = accumulate)](            gradients averaged over k steps, inner steps every k-th
 *   [lookahead({ syncPeriod, alpha })](         slow weights synced every k optimizer steps
 *     chain([clip | clipByGlobalNorm],          torch's clip_grad_value_ / clip_grad_norm_
 *           optimizer({ ...hyper, lr }),        lr a schedule when `schedule` names one
 *           [reduceOnPlateau(...)])))           ReduceLROnPlateau scales the whole step
 * ```
 *
 * Throws {@link GoldenFormatError} naming the field for a class, schedule or clip kind it
 * does not know.
 */
export function torchPeerTransform(golden: GoldenCase): GradientTransformation<StateValue> {
  const torchClass = golden.optimizer;
  const make = torchClass !== undefined ? OPTIMIZERS[torchClass] : undefined;
  if (!torchClass || !make) {
    throw new GoldenFormatError(`case '${golden.case}': 'optimizer' must be one of ${TORCH_CLASSES.join(', ')}, got ${JSON.stringify(torchClass)}.`);
  }
  const hyper = camelCase(golden.hyper ?? {});
  const baseLr = typeof hyper.lr === 'number' ? hyper.lr : DEFAULT_LR[torchClass]!;
  let plateau: GradientTransformation<StateValue> | undefined;
  const spec = golden.schedule;
  if (spec !== undefined) {
    if (spec.name === 'ReduceLROnPlateau') plateau = plateauFromTorch(spec, baseLr);
    else hyper.lr = scheduleFromTorch(spec, baseLr);
  }
  const members: Record<string, GradientTransformation<StateValue>> = {};
  if (golden.clip !== undefined) members.clip = clipFromTorch(golden.clip);
  members.optimizer = make(hyper);
  if (plateau) members.plateau = plateau;
  let tx = Object.keys(members).length === 1 ? members.optimizer : (chain(members) as GradientTransformation<StateValue>);
  if (golden.lookahead !== undefined) {
    const la = golden.lookahead;
    tx = lookahead(tx, { syncPeriod: la.sync_period, alpha: la.alpha }) as GradientTransformation<StateValue>;
  }
  if (golden.accumulate !== undefined) tx = multiSteps(tx, { everyK: golden.accumulate }) as GradientTransformation<StateValue>;
  return tx;
}

function clipFromTorch(spec: NonNullable<GoldenCase['clip']>): GradientTransformation<StateValue> {
  if (spec.kind === 'global_norm' && typeof spec.max_norm === 'number') return clipByGlobalNorm(spec.max_norm) as GradientTransformation<StateValue>;
  if (spec.kind === 'value' && typeof spec.max_value === 'number') return clip(spec.max_value) as GradientTransformation<StateValue>;
  throw new GoldenFormatError(`clip: expected {kind: "global_norm", max_norm} or {kind: "value", max_value}, got ${JSON.stringify(spec)}.`);
}

/** torch's ReduceLROnPlateau on an optimizer of learning rate `lr`, as the block scaling the step. */
function plateauFromTorch(spec: TorchScheduleSpec, lr: number): GradientTransformation<StateValue> {
  const args = spec.args ?? {};
  if (!isObject(args)) throw new GoldenFormatError(`schedule ReduceLROnPlateau: 'args' must be an object.`);
  const num = (key: string, fallback: number): number => {
    const v = args[key] ?? fallback;
    if (typeof v !== 'number') throw new GoldenFormatError(`schedule ReduceLROnPlateau: argument '${key}' must be a number, got ${JSON.stringify(v)}.`);
    return v;
  };
  const mode = args.mode ?? 'min';
  const thresholdMode = args.threshold_mode ?? 'rel';
  if ((mode !== 'min' && mode !== 'max') || (thresholdMode !== 'rel' && thresholdMode !== 'abs')) {
    throw new GoldenFormatError(`schedule ReduceLROnPlateau: mode must be min|max and threshold_mode rel|abs.`);
  }
  if (lr <= 0) throw new GoldenFormatError(`schedule ReduceLROnPlateau: needs a learning rate > 0, got ${lr}.`);
  return reduceOnPlateau({
    mode,
    thresholdMode,
    factor: num('factor', 0.1),
    patience: num('patience', 10),
    threshold: num('threshold', 1e-4),
    cooldown: num('cooldown', 0),
    // torch's min_lr and eps are learning rates; the block works on the scale of lr
    minScale: num('min_lr', 0) / lr,
    eps: num('eps', 1e-8) / lr,
  }) as GradientTransformation<StateValue>;
}

/**
 * Where each torch state key lives in the emosens state: the end of the leaf's path, with
 * `{p}` standing for the parameter's name.
 */
const STATE_KEYS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  SGD: { momentum_buffer: 'trace/{p}' },
  RMSprop: { square_avg: 'rms/nu/{p}', grad_avg: 'rms/mu/{p}', momentum_buffer: 'trace/{p}' },
  Adagrad: { sum: 'adagrad/{p}' },
  Adamax: { exp_avg: 'mu/{p}', exp_inf: 'nu/{p}' },
  NAdam: { exp_avg: 'mu/{p}', exp_avg_sq: 'nu/{p}' },
  RAdam: { exp_avg: 'mu/{p}', exp_avg_sq: 'nu/{p}' },
  Adam: { exp_avg: 'mu/{p}', exp_avg_sq: 'nu/{p}', max_exp_avg_sq: 'nuMax/{p}' },
  AdamW: { exp_avg: 'mu/{p}', exp_avg_sq: 'nu/{p}', max_exp_avg_sq: 'nuMax/{p}' },
  Lion: { exp_avg: 'moment/{p}' },
};

/**
 * The one state leaf whose path ends in `pattern` (`{p}` replaced by `param`), or the reason
 * there is not exactly one.
 */
export function findStateLeaf(state: StateValue, pattern: string, param: string): tf.Tensor | number | string {
  const tail = pattern.replace('{p}', param);
  const found = flattenState(state).filter((l) => l.path === tail || l.path.endsWith(`/${tail}`));
  if (found.length !== 1) return `expected one state leaf ending in '${tail}', found ${found.length}`;
  const value = found[0]!.value;
  return typeof value === 'number' || typeof value === 'object' ? value : `state leaf '${found[0]!.path}' is not a tensor or number`;
}

/**
 * The emosens leaf holding torch's state `key` (`exp_avg`, `momentum_buffer`, `slow`, ...)
 * of parameter `param`, or a reason it was not found exactly once.
 */
export function torchStateLeaf(golden: GoldenCase, state: StateValue, param: string, key: string): tf.Tensor | number | string {
  const pattern = key === 'slow' ? 'slow/{p}' : STATE_KEYS[golden.optimizer ?? '']?.[key];
  if (pattern === undefined) return `no emosens state is known for torch's '${key}' of ${golden.optimizer}`;
  return findStateLeaf(state, pattern, param);
}
