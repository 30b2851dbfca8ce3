// Shell blocks (sh, bash, shell, console) are never run: they install packages or start
// long jobs. What they name is checked instead: each `pnpm <script>` is a script of the
// package.json of the directory it runs in (the root, or the `cd <dir> &&` before it), and
// each `@emosens/*` of `npm install` is a published (not private) workspace package.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { extractBlocks, findMarkdownFiles, findShellReferences, shellLanguages } from '../src/extract.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface Manifest {
  name?: string;
  private?: boolean;
  scripts?: Record<string, string>;
}

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(path.join(root, dir, 'package.json'), 'utf8')) as Manifest;
}

/** Workspace packages by name. */
const workspace = new Map<string, Manifest>();
for (const parent of ['packages', 'apps']) {
  for (const name of readdirSync(path.join(root, parent))) {
    if (!existsSync(path.join(root, parent, name, 'package.json'))) continue;
    const manifest = readManifest(`${parent}/${name}`);
    if (manifest.name) workspace.set(manifest.name, manifest);
  }
}

const files = findMarkdownFiles(root)
  .map((file) => ({
    file,
    references: extractBlocks(readFileSync(path.join(root, file), 'utf8'), file)
      .filter((block) => shellLanguages.has(block.lang))
      .flatMap(findShellReferences),
  }))
  .filter(({ references }) => references.length > 0);

describe('shell commands in the READMEs and docs', () => {
  it('finds some', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const { file, references } of files) {
    it(`${file}: every pnpm script and @emosens package it names exists`, () => {
      const problems: string[] = [];
      for (const reference of references) {
        const where = `${file}:${reference.line}`;
        if (reference.kind === 'pnpm-script') {
          const manifestDir = path.join(root, reference.dir);
          if (!existsSync(path.join(manifestDir, 'package.json'))) {
            problems.push(`${where}: 'pnpm ${reference.name}' runs in ${reference.dir}, which has no package.json`);
          } else if (readManifest(reference.dir).scripts?.[reference.name] === undefined) {
            problems.push(`${where}: 'pnpm ${reference.name}': no script '${reference.name}' in ${path.join(reference.dir, 'package.json')}`);
          }
        } else {
          const manifest = workspace.get(reference.name);
          if (!manifest) problems.push(`${where}: 'npm install ${reference.name}': no such workspace package`);
          else if (manifest.private) problems.push(`${where}: 'npm install ${reference.name}': the package is private (not published)`);
        }
      }
      if (problems.length > 0) throw new Error(problems.join('\n'));
    });
  }
});
