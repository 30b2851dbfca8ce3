import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs, USAGE } from './args.js';
import { knownBackends } from './backends.js';
import { runBench } from './bench.js';
import { formatReport } from './report.js';

// `pnpm bench` runs from the repository root; INIT_CWD is where the user started pnpm.
const args = (() => {
  try {
    return parseArgs(process.argv.slice(2), process.env.INIT_CWD ?? process.cwd());
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
})();
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const backends = args.backends
  ? args.backends.map((name) => {
      const b = knownBackends.find((k) => k.name === name);
      if (!b) {
        console.error(`unknown backend '${name}'; known: ${knownBackends.map((k) => k.name).join(', ')}`);
        process.exit(2);
      }
      return b;
    })
  : knownBackends;

console.error(`emosens bench: Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown cpu'} x${os.cpus().length}${args.quick ? ', quick run' : ''}`);
const started = performance.now();
const result = await runBench({ backends, sizes: args.sizes, quick: args.quick, log: (line) => console.error(line) });
console.error(`done in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
console.log(formatReport(result));
if (args.json) {
  writeFileSync(args.json, `${JSON.stringify(result.records, null, 2)}\n`);
  console.log(`\nwrote ${result.records.length} records to ${args.json}`);
}
