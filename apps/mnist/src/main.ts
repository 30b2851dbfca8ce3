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
    process.exitCode = await runJob(parsed.options, { stdout: process.stdout, stderr: process.stderr });
  } catch (error) {
    process.stderr.write(`\nerror: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  }
}
