import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs, USAGE } from './args.js';
import { knownBackends } from './backends.js';
import { runBench } from './bench.js';
import { formatReport } from './report.js';
import { formatSoakReport, runSoak } from './soak.js';

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
// The soak runs on cpu and wasm unless --backends says otherwise.
const wanted = args.backends ?? (args.soak ? ['cpu', 'wasm'] : undefined);
const backends = wanted
  ? wanted.map((name) => {
      const b = knownBackends.find((k) => k.name === name);
      if (!b) {
        console.error(`unknown backend '${name}'; known: ${knownBackends.map((k) => k.name).join(', ')}`);
        process.exit(2);
      }
      return b;
    })
  : knownBackends;

if (args.soak) {
  console.error(`emosens soak: Node ${process.version}, ${args.steps} steps per run`);
  const soak = await runSoak({ backends, steps: args.steps, log: (line) => console.error(line) });
  console.log(formatSoakReport(soak));
  if (args.json) writeFileSync(args.json, `${JSON.stringify(soak.records, null, 2)}\n`);
  process.exit(0);
}

console.error(`emosens bench: Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown cpu'} x${os.cpus().length}${args.quick ? ', quick run' : ''}`);
const started = performance.now();
const result = await runBench({ backends, sizes: args.sizes, quick: args.quick, log: (line) => console.error(line) });
console.error(`done in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
console.log(formatReport(result));
if (args.json) {
  writeFileSync(args.json, `${JSON.stringify(result.records, null, 2)}\n`);
  console.log(`\nwrote ${result.records.length} records to ${args.json}`);
}
