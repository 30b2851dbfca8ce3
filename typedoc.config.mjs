// The API reference: one site for every published package (`pnpm run docs` -> docs-site/).
// Private packages (tests only) are left out. Each package's entry points are its
// package.json exports: typedoc follows their types (dist/*.d.ts) back to the sources
// through the declaration maps, so the packages are built first (`pnpm run docs` does that).
// Each package's README is its module page; docs/*.md and the apps' READMEs are the
// project's documents.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const isPrivate = (dir) => JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')).private === true;
const packageDirs = readdirSync('packages', { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(`packages/${entry.name}/package.json`))
  .map((entry) => `packages/${entry.name}`);
const published = packageDirs.filter((dir) => !isPrivate(dir));
// The private packages' READMEs (the root README links them) join the documents.
const privateReadmes = packageDirs.filter((dir) => isPrivate(dir) && existsSync(`${dir}/README.md`)).map((dir) => `${dir}/README.md`);

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
  projectDocuments: ['docs/*.md', 'apps/*/README.md', ...privateReadmes],
  out: 'docs-site',
  treatWarningsAsErrors: true,
};

export default config;
