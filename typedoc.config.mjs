// The API reference: one site for every published package (`pnpm docs` -> docs-site/).
// Private packages (tests only) are left out. Each package's entry points are its
// package.json exports: typedoc follows their types (dist/*.d.ts) back to the sources
// through the declaration maps, so the packages are built first (`pnpm docs` does that).
// Each package's README is its module page; docs/*.md are the project's documents.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const published = readdirSync('packages', { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => `packages/${entry.name}`)
  .filter((dir) => {
    try {
      return !JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')).private;
    } catch {
      return false;
    }
  });

// Source links ("Defined in") point at the commit on the origin remote's host when it is
// GitHub, GitLab or Bitbucket. Without an origin remote (a local clone), the file and line
// are still shown, without a link: gitRevision 'HEAD' keeps typedoc from looking for one.
let hasOrigin = true;
try {
  execFileSync('git', ['remote', 'get-url', 'origin'], { stdio: 'ignore' });
} catch {
  hasOrigin = false;
}

/** @type {Partial<import('typedoc').TypeDocOptions>} */
const config = {
  name: 'emosens',
  entryPointStrategy: 'packages',
  entryPoints: published,
  // Conversion options are per package (typedoc converts each package on its own).
  packageOptions: {
    tsconfig: 'tsconfig.build.json',
    excludeInternal: true,
    excludePrivate: true,
    ...(hasOrigin ? {} : { gitRevision: 'HEAD' }),
  },
  readme: 'README.md',
  projectDocuments: ['docs/*.md', 'apps/*/README.md'],
  out: 'docs-site',
  treatWarningsAsErrors: true,
};

export default config;
