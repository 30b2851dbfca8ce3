/** One recorded case: the format of `../shared/golden/*\/*.json` (see its README). */
export interface GoldenCase {
  readonly case: string;
  readonly reference?: string;
  readonly tolerance: { readonly rtol: number; readonly atol: number };
  readonly hyper: GoldenHyper;
  readonly params: Readonly<Record<string, { readonly shape: readonly number[]; readonly values: readonly number[] }>>;
  readonly steps: readonly GoldenStep[];
  readonly final_state?: Readonly<Record<string, Readonly<Record<string, readonly number[]>>>>;
  /** torch-peers: the torch class (`SGD`, `Adam`, ...); `hyper` then holds its arguments with torch's names. */
  readonly optimizer?: string;
  /** torch-peers: a `torch.optim.lr_scheduler` class and its arguments, stepped after every optimizer step. */
  readonly schedule?: { readonly name: string; readonly args?: Readonly<Record<string, unknown>> };
  /** torch-peers: gradient clipping before the optimizer (after accumulation). */
  readonly clip?: { readonly kind: string; readonly max_norm?: number; readonly max_value?: number };
  /** torch-peers: gradients of k consecutive steps averaged, the optimizer stepping on every k-th. */
  readonly accumulate?: number;
  /** torch-peers: Lookahead around the optimizer. */
  readonly lookahead?: { readonly sync_period: number; readonly alpha: number };
}

/** Constructor arguments of the reference; missing keys take its defaults. */
export interface GoldenHyper {
  readonly lr?: number;
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  readonly weight_decay?: number;
  readonly use_shadow?: boolean;
  readonly decoupled_weight_decay?: boolean;
  /** Other constructor arguments (torch-peers: `momentum`, `nesterov`, `alpha`, `amsgrad`, ...). */
  readonly [argument: string]: unknown;
}

export interface GoldenStep {
  readonly loss: number;
  readonly grads: Readonly<Record<string, readonly number[]>>;
  readonly expected: Readonly<Record<string, readonly number[]>>;
  readonly scalar?: number;
  readonly should_stop?: boolean;
  /** The learning rate (torch-peers) or emoPulse step size (emo-v3) step t used. */
  readonly lr?: number;
}

/** A recording that does not follow the format. */
export class GoldenFormatError extends Error {
  override readonly name = 'GoldenFormatError';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNumberArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');

/** Validates parsed JSON as a {@link GoldenCase}; throws {@link GoldenFormatError} naming the field. */
export function parseCase(json: unknown, source: string): GoldenCase {
  const fail = (field: string, expected: string): never => {
    throw new GoldenFormatError(`${source}: '${field}' ${expected}.`);
  };
  if (!isObject(json)) fail('(root)', 'must be an object');
  const d = json as Record<string, unknown>;
  if (typeof d.case !== 'string') fail('case', 'must be a string');
  const tol = d.tolerance;
  if (!isObject(tol) || typeof tol.rtol !== 'number' || typeof tol.atol !== 'number') {
    fail('tolerance', 'must be an object with numbers rtol and atol');
  }
  if (d.hyper !== undefined && !isObject(d.hyper)) fail('hyper', 'must be an object');
  if (!isObject(d.params) || Object.keys(d.params).length === 0) fail('params', 'must be a non-empty object');
  const sizes: Record<string, number> = {};
  for (const [name, p] of Object.entries(d.params as Record<string, unknown>)) {
    if (!isObject(p) || !isNumberArray(p.shape) || !isNumberArray(p.values)) {
      fail(`params.${name}`, 'must be {shape: number[], values: number[]}');
    }
    const { shape, values } = p as { shape: number[]; values: number[] };
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== values.length) fail(`params.${name}.values`, `must have ${size} values for shape [${shape.join(', ')}], has ${values.length}`);
    sizes[name] = size;
  }
  if (!Array.isArray(d.steps) || d.steps.length === 0) fail('steps', 'must be a non-empty array');
  (d.steps as unknown[]).forEach((s, t) => {
    if (!isObject(s)) fail(`steps[${t}]`, 'must be an object');
    const step = s as Record<string, unknown>;
    if (typeof step.loss !== 'number') fail(`steps[${t}].loss`, 'must be a number');
    for (const field of ['grads', 'expected'] as const) {
      const map = step[field];
      if (!isObject(map)) fail(`steps[${t}].${field}`, 'must be an object of parameter values');
      for (const [name, size] of Object.entries(sizes)) {
        const v = (map as Record<string, unknown>)[name];
        if (!isNumberArray(v) || v.length !== size) fail(`steps[${t}].${field}.${name}`, `must be ${size} numbers`);
      }
    }
    if (step.scalar !== undefined && typeof step.scalar !== 'number') fail(`steps[${t}].scalar`, 'must be a number');
    if (step.should_stop !== undefined && typeof step.should_stop !== 'boolean') fail(`steps[${t}].should_stop`, 'must be a boolean');
    if (step.lr !== undefined && typeof step.lr !== 'number') fail(`steps[${t}].lr`, 'must be a number');
  });
  if (d.final_state !== undefined && !isObject(d.final_state)) fail('final_state', 'must be an object');
  if (d.optimizer !== undefined && typeof d.optimizer !== 'string') fail('optimizer', 'must be a string (a torch class name)');
  if (d.schedule !== undefined && (!isObject(d.schedule) || typeof d.schedule.name !== 'string' || (d.schedule.args !== undefined && !isObject(d.schedule.args)))) {
    fail('schedule', 'must be {name: string, args?: object}');
  }
  if (d.clip !== undefined && (!isObject(d.clip) || typeof d.clip.kind !== 'string')) fail('clip', 'must be {kind: string, ...}');
  if (d.accumulate !== undefined && !(Number.isInteger(d.accumulate) && (d.accumulate as number) >= 1)) fail('accumulate', 'must be an integer >= 1');
  if (d.lookahead !== undefined && (!isObject(d.lookahead) || typeof d.lookahead.sync_period !== 'number' || typeof d.lookahead.alpha !== 'number')) {
    fail('lookahead', 'must be {sync_period: number, alpha: number}');
  }
  return d as unknown as GoldenCase;
}
