// Finds the code examples of the repository's markdown: every fenced block tagged
// ts/typescript/js/javascript/mjs/cjs in the root README, packages/*/README.md,
// apps/*/README.md and docs/*.md, with the doc-test directive written right before it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** How a block runs: TypeScript (type-checked too), an ES module, or CommonJS. */
export type RunLanguage = 'ts' | 'js' | 'cjs';

/** The languages whose blocks are run. */
export const runLanguages: Record<string, RunLanguage> = {
  ts: 'ts',
  typescript: 'ts',
  js: 'js',
  javascript: 'js',
  mjs: 'js',
  cjs: 'cjs',
};

/**
 * What the HTML comment before a fence asks: run it (no comment), skip it, type-check it
 * without running it (TypeScript only), or append it to the file's previous example.
 */
export type Directive =
  | { kind: 'run' }
  | { kind: 'skip'; reason: string }
  | { kind: 'type-check-only'; reason: string }
  | { kind: 'continues' };

/** One fenced block of a markdown file. */
export interface CodeBlock {
  /** The markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The fence's info string's first word, lower-cased ('' when none). */
  lang: string;
  /** The block's text, without the fences and the fence's indentation. */
  code: string;
  directive: Directive;
}

/** A runnable unit: one block, or a block followed by the blocks that continue it. */
export interface Example {
  file: string;
  /** The opening fence line of its first block: the example's name is `file:line`. */
  line: number;
  lang: RunLanguage;
  /** The blocks, in order (each with its own line, for mapping errors back). */
  blocks: CodeBlock[];
  /** Why it is neither run nor type-checked, when it is skipped. */
  skip?: string;
  /** Why it is type-checked but not run, when it is. */
  typeCheckOnly?: string;
}

const directivePattern = /^<!--\s*doc-test:\s*(skip|type-check-only|continues)(?![\w-])\s*(.*?)\s*-->$/;

/**
 * Parses `<!-- doc-test: skip (reason) -->`, `<!-- doc-test: type-check-only (reason) -->`
 * or `<!-- doc-test: continues -->`; throws on a malformed one or a missing reason.
 */
export function parseDirective(text: string, where: string): Directive | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith('<!--') || !/doc-test/.test(trimmed)) return undefined;
  const match = directivePattern.exec(trimmed);
  if (!match) throw new Error(`${where}: malformed doc-test directive ${trimmed}`);
  if (match[1] === 'continues') return { kind: 'continues' };
  const kind = match[1] === 'skip' ? 'skip' : 'type-check-only';
  const reason = (match[2] ?? '').replace(/^\((.*)\)$/, '$1').trim();
  if (!reason) throw new Error(`${where}: a doc-test ${kind} needs a reason: <!-- doc-test: ${kind} (why) -->`);
  return { kind, reason };
}

/** Every fenced block of one markdown text. */
export function extractBlocks(markdown: string, file: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i] ?? '');
    if (!open) {
      i += 1;
      continue;
    }
    const indent = open[1] ?? '';
    const fence = open[2] ?? '```';
    const lang = (open[3] ?? '').toLowerCase();
    const start = i;
    // The directive is the nearest non-blank line before the fence, if it is one.
    let before = start - 1;
    while (before >= 0 && (lines[before] ?? '').trim() === '') before -= 1;
    const directive = before >= 0 ? parseDirective(lines[before] ?? '', `${file}:${before + 1}`) : undefined;
    const body: string[] = [];
    i += 1;
    while (i < lines.length && !(lines[i] ?? '').trim().startsWith(fence)) {
      const text = lines[i] ?? '';
      body.push(text.startsWith(indent) ? text.slice(indent.length) : text.trimStart());
      i += 1;
    }
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: code fence is never closed`);
    i += 1;
    blocks.push({ file, line: start + 1, lang, code: body.join('\n'), directive: directive ?? { kind: 'run' } });
  }
  return blocks;
}

/** Groups a file's runnable blocks into examples (a `continues` block joins the one before it). */
export function collectExamples(blocks: CodeBlock[]): Example[] {
  const examples: Example[] = [];
  for (const block of blocks) {
    const lang = runLanguages[block.lang];
    if (lang === undefined) {
      if (block.directive.kind !== 'run') {
        throw new Error(`${block.file}:${block.line}: a doc-test directive on a ${block.lang || 'plain'} block, which is never run`);
      }
      continue;
    }
    if (block.directive.kind === 'continues') {
      const previous = examples.at(-1);
      if (!previous) throw new Error(`${block.file}:${block.line}: 'continues', but there is no earlier example in the file`);
      if (previous.lang !== lang) throw new Error(`${block.file}:${block.line}: continues a ${previous.lang} example as ${lang}`);
      previous.blocks.push(block);
      continue;
    }
    const example: Example = { file: block.file, line: block.line, lang, blocks: [block] };
    if (block.directive.kind === 'skip') example.skip = block.directive.reason;
    if (block.directive.kind === 'type-check-only') {
      if (lang !== 'ts') throw new Error(`${block.file}:${block.line}: type-check-only on a ${block.lang} block`);
      example.typeCheckOnly = block.directive.reason;
    }
    examples.push(example);
  }
  return examples;
}

/** The markdown files the doc test reads, relative to `root`, in a stable order. */
export function findMarkdownFiles(root: string): string[] {
  const files: string[] = [];
  if (existsSync(path.join(root, 'README.md'))) files.push('README.md');
  const docs = path.join(root, 'docs');
  if (existsSync(docs)) {
    for (const name of readdirSync(docs).sort()) if (name.endsWith('.md')) files.push(`docs/${name}`);
  }
  for (const parent of ['packages', 'apps']) {
    const base = path.join(root, parent);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base).sort()) {
      if (existsSync(path.join(base, name, 'README.md'))) files.push(`${parent}/${name}/README.md`);
    }
  }
  return files;
}

/** Every example of the repository at `root`. */
export function findExamples(root: string): Example[] {
  return findMarkdownFiles(root).flatMap((file) =>
    collectExamples(extractBlocks(readFileSync(path.join(root, file), 'utf8'), file)),
  );
}

/** The source of an example as one module, and a map from its lines back to the markdown. */
export function renderExample(example: Example): { source: string; lineOf: (generatedLine: number) => { file: string; line: number } } {
  const parts: string[] = [];
  // Segment starts: [first generated line, markdown line of the block's first code line].
  const segments: Array<[number, number]> = [];
  let next = 1;
  for (const block of example.blocks) {
    segments.push([next, block.line + 1]);
    parts.push(block.code);
    next += block.code.split('\n').length;
  }
  // `export {}` makes a block without imports a module of its own (no shared globals);
  // a CommonJS file is a module already.
  const source = `${parts.join('\n')}\n${example.lang === 'cjs' ? '' : 'export {};\n'}`;
  const lineOf = (generatedLine: number) => {
    let mapped = { file: example.file, line: example.line };
    for (const [from, markdownLine] of segments) {
      if (generatedLine >= from) mapped = { file: example.file, line: markdownLine + generatedLine - from };
    }
    return mapped;
  };
  return { source, lineOf };
}

/** The example's name in test output: `file:line` of its opening fence. */
export function exampleName(example: Pick<Example, 'file' | 'line'>): string {
  return `${example.file}:${example.line}`;
}

/** The shell languages whose commands are checked (never run). */
export const shellLanguages = new Set(['sh', 'bash', 'shell', 'console']);

/** A command of a shell block that names something the repository must have. */
export interface ShellReference {
  /** 1-based markdown line. */
  line: number;
  /** `pnpm <script>` run in `dir` (relative to the root), or `npm install <package>`. */
  kind: 'pnpm-script' | 'npm-package';
  name: string;
  dir: string;
}

const pnpmBuiltins = new Set(['install', 'i', 'add', 'remove', 'update', 'exec', 'dlx', 'pack', 'publish', 'why', 'list', 'ls']);

/**
 * The `pnpm <script>` (and `pnpm run <script>`) commands and the `@emosens/*` packages of
 * `npm install` in a shell block, with the directory a leading `cd <dir> &&` moves to.
 */
export function findShellReferences(block: CodeBlock): ShellReference[] {
  const found: ShellReference[] = [];
  block.code.split('\n').forEach((text, index) => {
    const line = block.line + 1 + index;
    const command = text.replace(/#.*$/, '');
    const dir = /^\s*cd\s+(\S+)\s*&&/.exec(command)?.[1] ?? '.';
    for (const match of command.matchAll(/\bpnpm(?:@\S+)?\s+(?:run\s+)?([A-Za-z][\w:-]*)/g)) {
      const name = match[1] ?? '';
      if (!pnpmBuiltins.has(name)) found.push({ line, kind: 'pnpm-script', name, dir });
    }
    const install = /\bnpm\s+(?:install|i|add)\s+(.*)$/.exec(command);
    for (const word of install?.[1]?.split(/\s+/) ?? []) {
      if (word.startsWith('@emosens/')) found.push({ line, kind: 'npm-package', name: word.replace(/@[^@/]*$/, ''), dir });
    }
  });
  return found;
}
