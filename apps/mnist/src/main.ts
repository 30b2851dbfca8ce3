import path from 'node:path';
import { parseJobArgs } from './args.js';

// `pnpm start -- --steps 100` passes a literal `--` through; drop it.
const argv = process.argv.slice(2).filter((arg, i) => !(i === 0 && arg === '--'));
const parsed = parseJobArgs(argv);
if (parsed.kind === 'help') {
  process.stdout.write(parsed.text);
} else if (parsed.kind === 'error') {
  process.stderr.write(`error: ${parsed.message}\n`);
  process.exitCode = 2;
} else {
  try {
    // Loaded only for a run, so --help and option errors answer at once, without tfjs.
    const { runJob } = await import('./job.js');
    // pnpm and turbo run the job from apps/mnist; a relative --out means where the user ran it.
    const out = path.resolve(process.env.INIT_CWD ?? process.cwd(), parsed.options.out);
    process.exitCode = await runJob({ ...parsed.options, out }, { stdout: process.stdout, stderr: process.stderr });
  } catch (error) {
    process.stderr.write(`\nerror: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String(error).includes('@emosens/')) {
      process.stderr.write('hint: the workspace packages are not built; run `pnpm run build` at the repository root.\n');
    }
    process.exitCode = 1;
  }
}
