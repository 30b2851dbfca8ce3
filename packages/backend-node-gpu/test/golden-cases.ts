import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findGoldenDir, listCaseFiles, loadCase, type LoadedCase } from '@emosens/golden';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const found = findGoldenDir(repoRoot);
if ('reason' in found) console.warn(`golden suite skipped: ${found.reason}`);

/** The reference recordings, or why there are none. */
export const golden: { readonly cases: readonly LoadedCase[]; readonly reason?: string } =
  'dir' in found ? { cases: listCaseFiles(found.dir).map(loadCase) } : { cases: [], reason: found.reason };
