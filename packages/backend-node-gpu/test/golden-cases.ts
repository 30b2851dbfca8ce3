import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findGoldenDir, GOLDEN_SUITES, listCaseFiles, loadCase, type LoadedCase } from '@emosens/golden';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const found = GOLDEN_SUITES.map((suite) => findGoldenDir(repoRoot, suite));
const reasons = found.flatMap((f) => ('reason' in f ? [f.reason] : []));
if (reasons.length > 0) console.warn(`golden suites skipped: ${reasons.join('; ')}`);

/** The reference recordings of every suite found, or why none are there. */
export const golden: { readonly cases: readonly LoadedCase[]; readonly reason?: string } = {
  cases: found.flatMap((f) => ('dir' in f ? listCaseFiles(f.dir).map(loadCase) : [])),
  ...(reasons.length === found.length ? { reason: reasons.join('; ') } : {}),
};
