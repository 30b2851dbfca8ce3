// The doc test: every ts/typescript/js/javascript/mjs/cjs block of every README and doc runs
// as written, one test per example named `file:line` (its opening fence). Each is written
// to .doc-test/run-<pid>/ inside this package, so `@emosens/*` resolve to the workspace packages
// (through the `@emosens/source` export condition: the TypeScript sources, no build), run
// by tsx under Node with a timeout, and the TypeScript ones are type-checked together by
// tsc with the repository's strict settings. Markdown directives, on the line before a fence:
//   <!-- doc-test: skip (why) -->             not run; the reason is printed and the test is skipped
//   <!-- doc-test: type-check-only (why) -->  type-checked, not run (e.g. needs CUDA); reason printed
//   <!-- doc-test: continues -->              appended to the file's previous example
// Blocks in other languages (sh, json, plain) are never run.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleName, findExamples, renderExample, type Example } from '../src/extract.js';

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const root = path.resolve(packageDir, '..', '..');
// One directory per run (the process id), so runs side by side do not clobber each other.
const workDir = path.join(packageDir, '.doc-test', `run-${process.pid}`);
const tsxCli = path.join(packageDir, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const tscCli = path.join(packageDir, 'node_modules', 'typescript', 'bin', 'tsc');
/** Per example (the slowest, alone, take about 15 s; CI runs other packages' tests beside them). */
const runTimeoutMs = 120_000;
/** For tsc over all TypeScript examples (about 15 s alone). The test timeout covers both. */
const typeCheckTimeoutMs = 240_000;

interface Prepared {
  example: Example;
  fileName: string;
  lineOf: (generatedLine: number) => { file: string; line: number };
}

const examples = findExamples(root);
/** The generated module of each example that runs, by file name in .doc-test/. */
const sources = new Map<string, string>();
const prepared: Prepared[] = examples
  .filter((example) => example.skip === undefined)
  .map((example) => {
    const slug = `${example.file.replace(/\.md$/, '').replace(/[^A-Za-z0-9]+/g, '-')}-L${example.line}`;
    const fileName = `${slug}.${{ ts: 'ts', js: 'mjs', cjs: 'cjs' }[example.lang]}`;
    const { source, lineOf } = renderExample(example);
    sources.set(fileName, source);
    return { example, fileName, lineOf };
  });

for (const example of examples) {
  if (example.skip !== undefined) console.log(`doc-test: skip ${exampleName(example)} (${example.skip})`);
  if (example.typeCheckOnly !== undefined) {
    console.log(`doc-test: type-check only, not run: ${exampleName(example)} (${example.typeCheckOnly})`);
  }
}

interface Outcome {
  code: number | null;
  output: string;
  timedOut: boolean;
}

function run(command: string, args: string[], timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: workDir, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, timedOut });
    });
  });
}

/** Rewrites `.doc-test/<file>:<line>` in tool output to the markdown file and line. */
function mapLocations(text: string): string {
  let mapped = text;
  for (const { fileName, lineOf } of prepared) {
    const pattern = new RegExp(`(?:file://)?[^\\s(]*${fileName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[:(](\\d+)`, 'g');
    mapped = mapped.replace(pattern, (_match, line: string) => {
      const at = lineOf(Number(line));
      return `${at.file}:${at.line}`;
    });
  }
  return mapped;
}

/**
 * tsc's errors per generated file name, started once for all TypeScript examples. Errors
 * of no example (a bad tsconfig, an error inside a workspace package) are kept under ''
 * and fail every TypeScript example, as does a failed tsc run that printed no error.
 */
let typeErrors: Promise<Map<string, string[]>>;

async function typeCheck(): Promise<Map<string, string[]>> {
  const { code, output, timedOut } = await run(process.execPath, [tscCli, '-p', 'tsconfig.json', '--pretty', 'false'], typeCheckTimeoutMs);
  const errors = new Map<string, string[]>();
  const general: string[] = [];
  for (const line of output.split('\n')) {
    const match = /^([^(\s]+)\((\d+),\d+\): (error .*)$/.exec(line);
    if (!match) {
      if (/\berror TS\d+/.test(line)) general.push(line);
      continue;
    }
    const fileName = path.basename(match[1] ?? '');
    const entry = prepared.find((candidate) => candidate.fileName === fileName);
    if (!entry) {
      general.push(line);
      continue;
    }
    const where = entry.lineOf(Number(match[2]));
    const list = errors.get(fileName) ?? [];
    list.push(`${where.file}:${where.line}: ${match[3]}`);
    errors.set(fileName, list);
  }
  if (timedOut) general.push(`tsc did not finish within ${typeCheckTimeoutMs / 1000} s`);
  else if (code !== 0 && errors.size === 0 && general.length === 0) general.push(`tsc exited with code ${String(code)}:\n${output}`);
  if (general.length > 0) errors.set('', general);
  return errors;
}

beforeAll(() => {
  mkdirSync(workDir, { recursive: true });
  for (const { fileName } of prepared) writeFileSync(path.join(workDir, fileName), sources.get(fileName) ?? '');
  // The repository's strict settings; `@emosens/*` type-checked from their sources.
  const tsconfig = {
    extends: path.join(root, 'tsconfig.base.json'),
    compilerOptions: { noEmit: true, customConditions: ['@emosens/source'], declaration: false, declarationMap: false, sourceMap: false },
    include: prepared.filter((entry) => entry.example.lang === 'ts').map((entry) => entry.fileName),
  };
  writeFileSync(path.join(workDir, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
  typeErrors = typeCheck();
  // Vitest would wait for a returned promise; the examples run while tsc does.
});

afterAll(async () => {
  await typeErrors;
  rmSync(workDir, { recursive: true, force: true });
});

describe.concurrent('every code example in the READMEs and docs', () => {
  it('finds the examples', () => {
    expect(examples.length).toBeGreaterThan(0);
  });

  for (const example of examples) {
    const name = exampleName(example);
    if (example.skip !== undefined) {
      // marked in the markdown with its reason: reported as skipped through the runner, reason printed
      it(`${name} (skipped: ${example.skip})`, (ctx) => {
        console.log(`doc-test: ${name} skipped: ${example.skip}`);
        ctx.skip(example.skip);
      });
      continue;
    }
    const entry = prepared.find((candidate) => candidate.example === example);
    const title =
      example.typeCheckOnly === undefined ? `${name} (${example.lang})` : `${name} (type-check only: ${example.typeCheckOnly})`;
    it(title, async () => {
      if (!entry) throw new Error(`${name} was not prepared`);
      const problems: string[] = [];
      // CommonJS blocks run on plain Node: `require` resolves to the packages' CommonJS
      // build in dist/ (the sources are ES modules), which turbo builds before this test.
      const args = example.lang === 'cjs' ? [entry.fileName] : [tsxCli, '--conditions=@emosens/source', entry.fileName];
      const outcome: Outcome =
        example.typeCheckOnly === undefined ? await run(process.execPath, args, runTimeoutMs) : { code: 0, output: '', timedOut: false };
      if (outcome.timedOut) problems.push(`did not finish within ${runTimeoutMs / 1000} s`);
      else if (outcome.code !== 0) problems.push(`exited with code ${String(outcome.code)}`);
      if (problems.length > 0) {
        const tail = mapLocations(outcome.output).trim().split('\n').slice(-30).join('\n');
        problems.push(tail);
      }
      if (example.lang === 'ts') {
        const all = await typeErrors;
        const errors = [...(all.get(entry.fileName) ?? []), ...(all.get('') ?? [])];
        if (errors.length > 0) problems.push(`type errors (tsc, strict):\n${errors.join('\n')}`);
      }
      if (problems.length > 0) throw new Error(`${name}: ${problems.join('\n')}`);
    });
  }
});
