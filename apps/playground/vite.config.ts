import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
const packages = path.join(here, '..', '..', 'packages');

/**
 * `@emosens/<name>` -> `packages/<name>/src/index.ts`: the page bundles the workspace
 * packages from their TypeScript sources (as the tests do), so no package build is needed
 * first. Exact names only: a subpath such as `@emosens/backend-webgpu/node` is not aliased.
 */
const sourceAliases = readdirSync(packages)
  .filter((name) => existsSync(path.join(packages, name, 'src', 'index.ts')))
  .map((name) => ({ find: new RegExp(`^@emosens/${name}$`), replacement: path.join(packages, name, 'src', 'index.ts') }));

export default defineConfig({
  // Relative URLs: the built site works from any directory of any static server.
  base: './',
  resolve: { alias: sourceAliases },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  server: { port: 5173 },
  preview: { port: 4173 },
});
