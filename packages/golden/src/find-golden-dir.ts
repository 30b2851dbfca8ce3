import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Where the reference recordings are: `$EMOSENS_GOLDEN_DIR` if set, else
 * `<repo>/../shared/golden/emo-v2` (where CI keeps them beside the clone).
 * Returns the directory, or the reason none was found.
 */
export function findGoldenDir(repoRoot: string): { dir: string } | { reason: string } {
  const fromEnv = process.env.EMOSENS_GOLDEN_DIR;
  if (fromEnv) {
    return existsSync(fromEnv) ? { dir: fromEnv } : { reason: `EMOSENS_GOLDEN_DIR=${fromEnv} does not exist` };
  }
  const beside = path.resolve(repoRoot, '..', 'shared', 'golden', 'emo-v2');
  if (existsSync(beside)) return { dir: beside };
  return { reason: `no golden recordings: set EMOSENS_GOLDEN_DIR, or place them at ${beside}` };
}
