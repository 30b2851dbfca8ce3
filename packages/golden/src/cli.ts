#!/usr/bin/env node
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { GoldenFormatError } from './format.js';
import { runDirectory } from './run-directory.js';

const USAGE = 'usage: pnpm golden <dir>   (a directory of recordings in the ../shared/golden format)';

async function main(argv: string[]): Promise<number> {
  const args = argv.filter((a) => a !== '--');
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  if (args.length !== 1) {
    console.error(`golden: expected exactly one directory argument, got ${args.length}.\n${USAGE}`);
    return 2;
  }
  // pnpm runs root scripts from the workspace root; resolve against where the user was.
  const dir = path.resolve(process.env.INIT_CWD ?? process.cwd(), args[0]!);
  tf.env().set('IS_NODE', false);
  await tf.setBackend('cpu');
  try {
    const report = await runDirectory(dir, { onLine: (line) => console.log(line) });
    return report.failed > 0 ? 1 : 0;
  } catch (e) {
    if (e instanceof GoldenFormatError) {
      console.error(`golden: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
