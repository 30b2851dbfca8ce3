// Adds up the vitest JSON reports of every workspace package (written by the reporter
// set in vitest.shared.mjs to <package>/.vitest/results.json) and prints one line:
// "N passed, M failed, K skipped". Exits 1 when a test failed, a test file could not
// run, or a package with a `test` script left no report.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const workspaceDirs = ['packages', 'apps'];

/** Workspace packages that have a `test` script, as { name, dir }. */
function testedPackages() {
  const found = [];
  for (const parent of workspaceDirs) {
    const base = path.join(root, parent);
    if (!existsSync(base)) continue;
    for (const entry of readdirSync(base, { withFileTypes: true })) {
      const manifest = path.join(base, entry.name, 'package.json');
      if (!entry.isDirectory() || !existsSync(manifest)) continue;
      const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
      if (pkg.scripts?.test) found.push({ name: pkg.name ?? `${parent}/${entry.name}`, dir: path.join(base, entry.name) });
    }
  }
  return found;
}

const totals = { passed: 0, failed: 0, skipped: 0 };
const problems = [];
/** Packages whose own count is printed too, before the summary line. */
const shownApart = { '@emosens/doc-test': 'doc test (every README and doc example)' };
const apart = [];

for (const { name, dir } of testedPackages()) {
  const file = path.join(dir, '.vitest', 'results.json');
  if (!existsSync(file)) {
    problems.push(`${name}: no test report (${path.relative(root, file)} is missing; did its tests run?)`);
    totals.failed += 1;
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  let failed = report.numFailedTests ?? 0;
  totals.passed += report.numPassedTests ?? 0;
  totals.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  // A test file that fails to load (syntax error, failing hook) has no failed test of its
  // own: count it as one failure so it cannot pass unnoticed.
  for (const result of report.testResults ?? []) {
    const anyTestFailed = (result.assertionResults ?? []).some((t) => t.status === 'failed');
    if (result.status === 'failed' && !anyTestFailed) {
      problems.push(`${name}: ${path.relative(root, result.name)} failed to run: ${firstLine(result.message)}`);
      failed += 1;
    }
  }
  // vitest also fails a run with nothing in it (no test files found).
  if (report.success === false && failed === 0) {
    const why = (report.numTotalTestSuites ?? 0) === 0 ? 'no test files found' : 'vitest reported a failed run';
    problems.push(`${name}: ${why}`);
    failed += 1;
  }
  totals.failed += failed;
  if (shownApart[name]) {
    const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    apart.push(`${shownApart[name]}: ${report.numPassedTests ?? 0} passed, ${failed} failed, ${skipped} skipped`);
  }
}

function firstLine(text) {
  return String(text ?? 'no message').split('\n')[0];
}

for (const problem of problems) console.error(problem);
for (const line of apart) console.log(line);
const parts = [`${totals.passed} passed`, `${totals.failed} failed`];
if (totals.skipped > 0) parts.push(`${totals.skipped} skipped`);
console.log(parts.join(', '));
process.exitCode = totals.failed > 0 || totals.passed === 0 ? 1 : 0;
