import { describe, expect, it } from 'vitest';
import { collectExamples, extractBlocks, parseDirective, renderExample } from '../src/extract.js';

const markdown = [
  '# Title', //                                   1
  '```ts', //                                     2
  "const a = 1;", //                              3
  '```', //                                       4
  '<!-- doc-test: continues -->', //              5
  '```ts', //                                     6
  'console.log(a);', //                           7
  '```', //                                       8
  '<!-- doc-test: skip (browser only) -->', //    9
  '', //                                          10
  '```js', //                                     11
  'document.title;', //                           12
  '```', //                                       13
  '```sh', //                                     14
  'pnpm test', //                                 15
  '```', //                                       16
  '- a list item:', //                            17
  '  ```ts', //                                   18
  '  const b = 2;', //                            19
  '  ```', //                                     20
].join('\n');

describe('extractBlocks and collectExamples', () => {
  it('reads fences with their line, language and directive, indented ones too', () => {
    const blocks = extractBlocks(markdown, 'x.md');
    expect(blocks.map((b) => [b.line, b.lang, b.directive.kind])).toEqual([
      [2, 'ts', 'run'],
      [6, 'ts', 'continues'],
      [11, 'js', 'skip'],
      [14, 'sh', 'run'],
      [18, 'ts', 'run'],
    ]);
    expect(blocks[4]?.code).toBe('const b = 2;');
  });

  it('joins a continuing block to the previous example, skips with the reason, leaves shell blocks out', () => {
    const examples = collectExamples(extractBlocks(markdown, 'x.md'));
    expect(examples.map((e) => [e.line, e.lang, e.blocks.length, e.skip])).toEqual([
      [2, 'ts', 2, undefined],
      [11, 'js', 1, 'browser only'],
      [18, 'ts', 1, undefined],
    ]);
  });

  it('maps the lines of a joined example back to the markdown', () => {
    const [first] = collectExamples(extractBlocks(markdown, 'x.md'));
    const { source, lineOf } = renderExample(first!);
    expect(source).toBe('const a = 1;\nconsole.log(a);\nexport {};\n');
    expect(lineOf(1)).toEqual({ file: 'x.md', line: 3 });
    expect(lineOf(2)).toEqual({ file: 'x.md', line: 7 });
  });

  it('runs a cjs block as CommonJS (no export added)', () => {
    const [example] = collectExamples(extractBlocks("```cjs\nconst a = require('a');\n```", 'x.md'));
    expect(example?.lang).toBe('cjs');
    expect(renderExample(example!).source).toBe("const a = require('a');\n");
  });
});

describe('parseDirective', () => {
  it('needs a reason to skip and refuses unknown directives', () => {
    expect(parseDirective('<!-- doc-test: type-check-only (needs CUDA) -->', 'x')).toEqual({ kind: 'type-check-only', reason: 'needs CUDA' });
    expect(() => parseDirective('<!-- doc-test: skip -->', 'x.md:3')).toThrow(/x.md:3: a doc-test skip needs a reason/);
    expect(() => parseDirective('<!-- doc-test: ignore (x) -->', 'x.md:3')).toThrow(/malformed/);
    expect(parseDirective('<!-- a comment -->', 'x')).toBeUndefined();
  });

  it('refuses a directive on a block that is never run', () => {
    expect(() => collectExamples(extractBlocks('<!-- doc-test: skip (x) -->\n```sh\nls\n```', 'x.md'))).toThrow(/never run/);
  });
});
