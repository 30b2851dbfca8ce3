import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { GoldenFormatError, parseCase, type GoldenCase } from './format.js';
import { describeResult, runCase, type CaseResult, type RunCaseOptions } from './run-case.js';

/** A recording file of a directory, parsed, or the reason it could not be. */
export type LoadedCase = { readonly file: string; readonly golden: GoldenCase } | { readonly file: string; readonly error: string };

/**
 * Lists the recordings of a directory: the files named by its `index.json` (an array of
 * `{ file }`), or else every `*.json` file in it.
 */
export function listCaseFiles(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new GoldenFormatError(`${dir}: not a directory of golden recordings.`);
  }
  const index = path.join(dir, 'index.json');
  if (existsSync(index)) {
    const entries: unknown = JSON.parse(readFileSync(index, 'utf8'));
    if (!Array.isArray(entries) || !entries.every((e) => typeof e === 'object' && e !== null && typeof (e as { file?: unknown }).file === 'string')) {
      throw new GoldenFormatError(`${index}: expected an array of { "file": "<name>.json" } entries.`);
    }
    return entries.map((e) => path.join(dir, (e as { file: string }).file));
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  if (files.length === 0) throw new GoldenFormatError(`${dir}: no .json recordings found.`);
  return files.map((f) => path.join(dir, f));
}

/** Reads and validates one recording. */
export function loadCase(file: string): LoadedCase {
  try {
    const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return { file, golden: parseCase(json, path.basename(file)) };
  } catch (e) {
    const reason = e instanceof SyntaxError ? `not valid JSON (${e.message})` : (e as Error).message;
    return { file, error: reason };
  }
}

export interface DirectoryReport {
  readonly lines: string[];
  readonly passed: number;
  readonly failed: number;
  readonly results: CaseResult[];
}

/** Runs every recording of a directory, one line per case, then `N passed, M failed`. */
export async function runDirectory(dir: string, options: RunCaseOptions & { onLine?: (line: string) => void } = {}): Promise<DirectoryReport> {
  const lines: string[] = [];
  const results: CaseResult[] = [];
  const emit = (line: string) => {
    lines.push(line);
    options.onLine?.(line);
  };
  let passed = 0;
  let failed = 0;
  for (const file of listCaseFiles(dir)) {
    const loaded = loadCase(file);
    if ('error' in loaded) {
      failed += 1;
      emit(`${path.basename(file, '.json')}: malformed: ${loaded.error}`);
      continue;
    }
    let result: CaseResult;
    try {
      result = await runCase(loaded.golden, options);
    } catch (e) {
      failed += 1;
      emit(`${loaded.golden.case}: error: ${(e as Error).message}`);
      continue;
    }
    results.push(result);
    if (result.mismatch) failed += 1;
    else passed += 1;
    emit(describeResult(result));
  }
  emit(`${passed} passed, ${failed} failed`);
  return { lines, passed, failed, results };
}
