// Shared vitest settings: every package's tests run against the TypeScript
// sources of its workspace dependencies, so no build is needed first.
import { fileURLToPath } from 'node:url';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.dirname(fileURLToPath(import.meta.url));

/**
 * Maps `@emosens/<name>` to `packages/<name>/src/index.ts` for each workspace package, and
 * each subpath export (`@emosens/<name>/<sub>`) to its `@emosens/source` file.
 */
function sourceAliases() {
  const dir = path.join(root, 'packages');
  return readdirSync(dir)
    .filter((name) => existsSync(path.join(dir, name, 'src', 'index.ts')))
    .flatMap((name) => {
      const exports = JSON.parse(readFileSync(path.join(dir, name, 'package.json'), 'utf8')).exports ?? {};
      const subpaths = Object.entries(exports)
        .filter(([key, target]) => key.startsWith('./') && typeof target === 'object' && target['@emosens/source'])
        .map(([key, target]) => ({
          find: new RegExp(`^@emosens/${name}/${key.slice(2)}$`),
          replacement: path.join(dir, name, target['@emosens/source']),
        }));
      return [...subpaths, { find: new RegExp(`^@emosens/${name}$`), replacement: path.join(dir, name, 'src', 'index.ts') }];
    });
}

/** @param {string} configUrl the package's `import.meta.url` */
export function sharedTestConfig(configUrl) {
  return {
    root: path.dirname(fileURLToPath(configUrl)),
    resolve: { alias: sourceAliases() },
    test: {
      include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
      setupFiles: existsSync(path.join(path.dirname(fileURLToPath(configUrl)), 'test', 'setup.ts')) ? ['test/setup.ts'] : [],
      environment: 'node',
      // The JSON report is what `scripts/summarize-tests.mjs` adds up across packages.
      reporters: ['default', ['json', { outputFile: '.vitest/results.json' }]],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      pool: 'forks',
      server: { deps: { inline: [/@emosens\//] } },
    },
  };
}
