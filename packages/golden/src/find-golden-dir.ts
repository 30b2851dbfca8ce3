import { existsSync } from 'node:fs';
import path from 'node:path';

/** The suites of the shared recordings this repository runs. */
export const GOLDEN_SUITES = ['emo-v2', 'emo-v3', 'torch-peers'] as const;

/**
 * Where a suite of the reference recordings is (default `emo-v2`): under
 * `$EMOSENS_GOLDEN_DIR/<suite>` if that variable is set (for `emo-v2`, the variable may
 * also name the suite's own directory), else `<repo>/../shared/golden/<suite>` (where CI
 * keeps them beside the clone). Returns the directory, or the reason none was found.
 */
export function findGoldenDir(repoRoot: string, suite: string = 'emo-v2'): { dir: string } | { reason: string } {
  const fromEnv = process.env.EMOSENS_GOLDEN_DIR;
  if (fromEnv) {
    const inside = path.join(fromEnv, suite);
    if (existsSync(inside)) return { dir: inside };
    if (suite === 'emo-v2' && existsSync(fromEnv)) return { dir: fromEnv };
    return { reason: `EMOSENS_GOLDEN_DIR=${fromEnv} has no ${suite}/ directory` };
  }
  const beside = path.resolve(repoRoot, '..', 'shared', 'golden', suite);
  if (existsSync(beside)) return { dir: beside };
  return { reason: `no golden recordings of ${suite}: set EMOSENS_GOLDEN_DIR, or place them at ${beside}` };
}
