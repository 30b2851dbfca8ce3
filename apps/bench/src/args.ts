import path from 'node:path';

/** What the command line asks for. */
export interface BenchArgs {
  /** Where to write the JSON records (resolved against the directory `pnpm` was started in), if anywhere. */
  readonly json: string | undefined;
  /** A fast smoke run: small sizes, few steps. */
  readonly quick: boolean;
  /** Parameter counts to measure. Default 1M and 10M (quick: 100k). */
  readonly sizes: readonly number[];
  /** Backends to try, by name; default every known one. */
  readonly backends: readonly string[] | undefined;
  /** The soak run instead of the timing: every Emo optimizer for `steps` steps, tensors and RSS at start and end. */
  readonly soak: boolean;
  /** Steps per soak run. Default 10,000. */
  readonly steps: number;
  readonly help: boolean;
}

export const USAGE = `Usage: pnpm bench [--quick] [--json FILE] [--sizes 1e6,1e7] [--backends cpu,webgpu]
       pnpm bench --soak [--steps 10000] [--backends cpu,wasm] [--json FILE]

  --json FILE      also write one JSON record per (backend, optimizer, path, params):
                   { backend, optimizer, path, params, msPerStep, stateBytes, floorMs }
  --quick          a fast smoke run (100k parameters, a few steps)
  --sizes LIST     parameter counts to measure (default 1e6,1e7)
  --backends LIST  backends to try (default: every known one; unavailable ones are skipped with the reason;
                   --soak: cpu and wasm)
  --soak           the soak: every Emo optimizer (v2.0 and v3.9.1) for --steps steps, fused and composed,
                   reporting the tensor count and the RSS at the start and the end of each run
  --steps N        steps per soak run (default 10000)`;

const DEFAULT_SIZES = [1_000_000, 10_000_000];
const QUICK_SIZES = [100_000];
const SOAK_STEPS = 10_000;

function parseCount(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 2) throw new Error(`--sizes: '${text}' is not a parameter count (an integer >= 2, e.g. 1e6).`);
  return n;
}

/**
 * Parses the arguments after the script name. Relative `--json` paths resolve against
 * `cwd` (pass `process.env.INIT_CWD`: root scripts run in the repository root, but the
 * user typed the path where they started `pnpm`).
 */
export function parseArgs(argv: readonly string[], cwd: string): BenchArgs {
  let json: string | undefined;
  let quick = false;
  let sizes: number[] | undefined;
  let backends: string[] | undefined;
  let help = false;
  let soak = false;
  let steps = SOAK_STEPS;
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value.\n\n${USAGE}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const take = (): string => inline ?? value(i++, flag);
    switch (flag) {
      case '--':
        break; // pnpm may forward a separator
      case '--json':
        json = path.resolve(cwd, take());
        break;
      case '--quick':
        quick = true;
        break;
      case '--sizes':
        sizes = take().split(',').map(parseCount);
        break;
      case '--backends':
        backends = take().split(',').map((b) => b.trim()).filter(Boolean);
        break;
      case '--soak':
        soak = true;
        break;
      case '--steps': {
        const text = take();
        steps = Number(text);
        if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps: '${text}' is not a step count (an integer >= 1).`);
        break;
      }
      case '--help':
      case '-h':
        help = true;
        break;
      default:
        throw new Error(`unknown argument '${arg}'.\n\n${USAGE}`);
    }
  }
  return { json, quick, sizes: sizes ?? (quick ? QUICK_SIZES : DEFAULT_SIZES), backends, soak, steps, help };
}
