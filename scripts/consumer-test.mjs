#!/usr/bin/env node
// The consumer test: uses the packages as a new user would, from outside the workspace.
//
// Builds and packs every published package (packages/*, not private), then, for each tfjs
// version claimed by the peer ranges (the lowest and the highest), creates a scratch npm
// project in a temp dir, `npm install`s the tarballs with `@tensorflow/tfjs@<version>` and
// checks there:
//   - one copy of @tensorflow/tfjs-core, at that version;
//   - an ESM and a CommonJS script (one TypeScript source, compiled by tsc with module
//     node16 as train.mts and train.cts, so both are type-checked) that train a small
//     tf.sequential with model.fit and @emosens/tfjs optimizers (a ready-made one and a
//     custom chain), save and reload it with its optimizer, and run a custom chain through
//     statefulOptimizer from @emosens/core, composed and fused (@emosens/backend-cpu);
//   - publint and @arethetypeswrong/cli on every tarball, with no errors;
//   - an esbuild --bundle --platform=browser of every browser-facing package, with its
//     size minified and gzipped.
// Prints progress, the bundle sizes, and a pass/fail summary; exits 1 if anything failed.
//
// usage: node scripts/consumer-test.mjs [--tfjs 4.0.0,4.22.0] [--skip-build] [--keep]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PNPM = ['-y', 'pnpm@10.34.9'];

// Tools installed in the scratch project (pinned, so a run is repeatable).
const TOOLS = {
  typescript: '5.9.3',
  '@types/node': '20.19.43',
  esbuild: '0.28.2',
  publint: '0.3.25',
  '@arethetypeswrong/cli': '0.18.5',
};

// The scratch project's tsconfig: module node16, so train.mts is ESM and train.cts CommonJS.
const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'node16',
    moduleResolution: 'node16',
    strict: true,
    skipLibCheck: true,
    types: ['node'],
    outDir: '.',
    rootDir: '.',
  },
  files: ['train.mts', 'train.cts'],
};

// Packages that only make sense in Node (they read the file system): not bundled for the browser.
const NODE_ONLY = new Set(['@emosens/golden']);
// Subpaths that are Node-only by design.
const NODE_ONLY_SUBPATHS = new Set(['@emosens/backend-webgpu/node']);

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const keep = args.includes('--keep');
const skipBuild = args.includes('--skip-build');

const results = []; // { name, ok, detail }
const record = (name, ok, detail = '') => {
  results.push({ name, ok, detail });
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
};
const step = (text) => console.log(`\n== ${text}`);

/** Runs a command; returns { ok, out } (stdout and stderr together), never throws. */
function run(cmd, cmdArgs, cwd, env = {}) {
  const r = spawnSync(cmd, cmdArgs, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
  return { ok: r.status === 0, out };
}
const tail = (text, lines = 25) => text.trim().split('\n').slice(-lines).join('\n');

// --- The packages ------------------------------------------------------------------
const packages = readdirSync(path.join(root, 'packages'))
  .map((dir) => ({ dir: path.join(root, 'packages', dir), json: path.join(root, 'packages', dir, 'package.json') }))
  .filter((p) => existsSync(p.json))
  .map((p) => ({ ...p, manifest: JSON.parse(readFileSync(p.json, 'utf8')) }))
  .filter((p) => !p.manifest.private);

/** The lowest and highest tfjs versions the peer ranges claim (from @emosens/tfjs's range). */
function claimedVersions() {
  const range = packages.find((p) => p.manifest.name === '@emosens/tfjs').manifest.peerDependencies['@tensorflow/tfjs-core'];
  const lowest = /^\^(\d+\.\d+\.\d+)$/.exec(range)?.[1];
  if (!lowest) throw new Error(`unexpected @tensorflow/tfjs-core peer range '${range}' (expected ^x.y.z)`);
  const major = lowest.split('.')[0];
  const versions = JSON.parse(execFileSync('npm', ['view', '@tensorflow/tfjs', 'versions', '--json'], { encoding: 'utf8' }));
  const highest = versions.filter((v) => v.startsWith(`${major}.`) && !v.includes('-')).at(-1);
  return [...new Set([lowest, highest])];
}

const tfjsVersions = option('--tfjs')?.split(',') ?? claimedVersions();
const scratch = mkdtempSync(path.join(os.tmpdir(), 'emosens-consumer-'));
console.log(`consumer test: ${packages.length} packages, tfjs ${tfjsVersions.join(' and ')}, scratch dir ${scratch}`);

try {
  // --- Build and pack -------------------------------------------------------------
  if (!skipBuild) {
    step('build (turbo run build)');
    const b = run('npx', [...PNPM, 'turbo', 'run', 'build', '--filter=./packages/*', '--output-logs=errors-only'], root, {
      TURBO_TELEMETRY_DISABLED: '1',
    });
    record('build', b.ok, b.ok ? '' : tail(b.out));
    if (!b.ok) throw new Error('build failed');
  }
  step('pack (pnpm pack)');
  const tarDir = path.join(scratch, 'tarballs');
  mkdirSync(tarDir);
  const tarballs = new Map(); // name -> absolute path
  for (const p of packages) {
    const before = new Set(readdirSync(tarDir));
    const r = run('npx', [...PNPM, 'pack', '--pack-destination', tarDir], p.dir);
    const made = readdirSync(tarDir).filter((f) => !before.has(f) && f.endsWith('.tgz'));
    const ok = r.ok && made.length === 1;
    if (ok) tarballs.set(p.manifest.name, path.join(tarDir, made[0]));
    const files = ok ? run('tar', ['-tzf', path.join(tarDir, made[0])], tarDir).out.split('\n') : [];
    const hasLicense = files.includes('package/LICENSE');
    record(`pack ${p.manifest.name}`, ok && hasLicense, ok ? (hasLicense ? made[0] : 'no LICENSE in the tarball') : tail(r.out));
  }

  // --- Per tfjs version -----------------------------------------------------------
  const sizeTables = [];
  for (const version of tfjsVersions) {
    step(`tfjs ${version}: scratch npm project`);
    const project = path.join(scratch, `tfjs-${version}`);
    mkdirSync(project);
    const dependencies = Object.fromEntries([...tarballs].map(([name, file]) => [name, `file:${file}`]));
    dependencies['@tensorflow/tfjs'] = version;
    dependencies['@tensorflow/tfjs-backend-wasm'] = version;
    writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'emosens-consumer', version: '0.0.0', private: true, dependencies, devDependencies: TOOLS }, null, 2),
    );
    console.log(`  npm install (${tarballs.size} tarballs, @tensorflow/tfjs@${version}, @tensorflow/tfjs-backend-wasm@${version}, ${Object.keys(TOOLS).join(', ')})`);
    const install = run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], project);
    record(`tfjs ${version}: npm install`, install.ok, install.ok ? '' : tail(install.out));
    if (!install.ok) continue;

    // One tfjs-core, at the version asked for.
    const cores = findPackageCopies(path.join(project, 'node_modules'), '@tensorflow/tfjs-core');
    record(
      `tfjs ${version}: one @tensorflow/tfjs-core`,
      cores.length === 1 && cores[0].version === version,
      cores.map((c) => `${path.relative(project, c.dir)}@${c.version}`).join(', '),
    );

    // ESM and CommonJS from one TypeScript source, type-checked by tsc (module node16).
    writeFileSync(path.join(project, 'train.mts'), trainSource('esm'));
    writeFileSync(path.join(project, 'train.cts'), trainSource('cjs'));
    writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    const tsc = run(path.join(project, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], project);
    record(`tfjs ${version}: tsc (module node16, train.mts and train.cts)`, tsc.ok, tsc.ok ? '' : tail(tsc.out, 40));
    for (const [kind, file] of [
      ['ESM', 'train.mjs'],
      ['CommonJS', 'train.cjs'],
    ]) {
      if (!existsSync(path.join(project, file))) {
        record(`tfjs ${version}: ${kind} script`, false, `${file} was not emitted`);
        continue;
      }
      const r = run('node', [file], project);
      const last = r.out.trim().split('\n').filter((l) => l.startsWith('consumer:')).join('; ');
      record(`tfjs ${version}: ${kind} script (${file})`, r.ok && r.out.includes('consumer: all passed'), r.ok ? last : tail(r.out, 40));
    }

    // publint and attw on every tarball (once: they do not depend on the tfjs version).
    if (version === tfjsVersions[0]) {
      step('publint and attw on every tarball');
      for (const [name, file] of tarballs) {
        const pub = run(path.join(project, 'node_modules/.bin/publint'), [file, '--level', 'warning'], project);
        const pubErrors = /^Errors:/m.test(pub.out);
        record(`publint ${name}`, pub.ok && !pubErrors, pub.ok && !pubErrors ? (/No issues found/.test(pub.out) ? 'no issues' : 'no errors or warnings') : tail(pub.out));
        const attw = run(path.join(project, 'node_modules/.bin/attw'), [file, '--format', 'table-flipped'], project);
        record(`attw ${name}`, attw.ok, attw.ok ? (/No problems found/.test(attw.out) ? 'no problems (node10, node16 CJS and ESM, bundler)' : 'no errors') : tail(attw.out, 40));
      }
    }

    // esbuild --platform=browser: each browser-facing package, and a page with tfjs.
    step(`tfjs ${version}: esbuild --bundle --platform=browser`);
    sizeTables.push({ version, rows: await bundleSizes(project, version) });
  }

  for (const { version, rows } of sizeTables) {
    if (rows.length === 0) continue;
    console.log(`\nBundle sizes (esbuild --bundle --minify --platform=browser, tfjs ${version}):`);
    console.log('own: the package alone (other @emosens/* and @tensorflow/* external); with deps: with its @emosens/* dependencies (@tensorflow/* external)\n');
    const table = [['entry', 'own min', 'own gzip', 'with deps min', 'with deps gzip']];
    for (const r of rows) table.push([r.entry, kb(r.own?.min), kb(r.own?.gzip), kb(r.full.min), kb(r.full.gzip)]);
    printTable(table);
  }
} catch (e) {
  record('consumer test', false, e instanceof Error ? e.message : String(e));
} finally {
  if (keep) console.log(`\nscratch dir kept: ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
}

const failed = results.filter((r) => !r.ok);
console.log(`\nconsumer test: ${results.length - failed.length} passed, ${failed.length} failed (tfjs ${tfjsVersions.join(', ')})`);
for (const f of failed) console.log(`  FAIL ${f.name}`);
process.exit(failed.length === 0 ? 0 : 1);

// --- Helpers ---------------------------------------------------------------------

function kb(bytes) {
  return bytes === undefined ? '-' : `${(bytes / 1024).toFixed(1)} kB`;
}

function printTable(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  console.log(line(rows[0]));
  console.log(`| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`);
  for (const r of rows.slice(1)) console.log(line(r));
}

/** Every installed copy of a package under node_modules (nested ones included). */
function findPackageCopies(nodeModules, name) {
  const copies = [];
  const visit = (dir) => {
    const candidate = path.join(dir, name, 'package.json');
    if (existsSync(candidate)) copies.push({ dir: path.dirname(candidate), version: JSON.parse(readFileSync(candidate, 'utf8')).version });
    for (const entry of safeReaddir(dir)) {
      if (entry.startsWith('.')) continue;
      const sub = entry.startsWith('@') ? safeReaddir(path.join(dir, entry)).map((e) => path.join(entry, e)) : [entry];
      for (const s of sub) {
        const nested = path.join(dir, s, 'node_modules');
        if (existsSync(nested)) visit(nested);
      }
    }
  };
  visit(nodeModules);
  return copies;
}

function safeReaddir(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Bundles each browser-facing entry point for the browser; returns the sizes. */
async function bundleSizes(project, version) {
  const esbuild = createRequire(path.join(project, 'package.json'))('esbuild');
  const entries = [];
  for (const p of packages) {
    if (NODE_ONLY.has(p.manifest.name)) continue;
    for (const key of Object.keys(p.manifest.exports)) {
      const spec = key === '.' ? p.manifest.name : `${p.manifest.name}/${key.slice(2)}`;
      if (!NODE_ONLY_SUBPATHS.has(spec)) entries.push(spec);
    }
  }
  const rows = [];
  const build = async (contents, external) => {
    const r = await esbuild.build({
      stdin: { contents, resolveDir: project, loader: 'js' },
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
      external,
    });
    const code = r.outputFiles[0].contents;
    return { min: code.length, gzip: gzipSync(code, { level: 9 }).length };
  };
  const tryBuild = async (label, contents, external) => {
    try {
      return await build(contents, external);
    } catch (e) {
      record(`tfjs ${version}: esbuild ${label}`, false, tail(String(e.message ?? e), 15));
      return undefined;
    }
  };
  for (const spec of entries) {
    const contents = `export * from '${spec}';`;
    const full = await tryBuild(spec, contents, ['@tensorflow/*']);
    const own = full && (await tryBuild(`${spec} (own)`, contents, ['@tensorflow/*', ...otherEmosens(spec)]));
    if (full) {
      record(`tfjs ${version}: esbuild ${spec}`, true, `${kb(full.min)} min, ${kb(full.gzip)} gzip`);
      rows.push({ entry: spec, own, full });
    }
  }
  // Every browser entry together, then a page with all of tfjs bundled in.
  const all = entries.map((spec, i) => `export * as m${i} from '${spec}';`).join('\n');
  const together = await tryBuild('all browser entries', all, ['@tensorflow/*']);
  if (together) {
    record(`tfjs ${version}: esbuild all browser entries together`, true, `${kb(together.min)} min, ${kb(together.gzip)} gzip`);
    rows.push({ entry: 'all of the above', full: together });
  }
  const page = [
    "import * as tf from '@tensorflow/tfjs';",
    "import { emoSens } from '@emosens/tfjs';",
    "import { registerCpuKernels } from '@emosens/backend-cpu';",
    'registerCpuKernels();',
    "const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1 })] });",
    "model.compile({ optimizer: emoSens(), loss: 'meanSquaredError' });",
    'export { model };',
  ].join('\n');
  // The page's own share (tfjs external): what a page pays for emosens after tree shaking.
  const pageOwn = await tryBuild('a page with @emosens/tfjs (tfjs external)', page, ['@tensorflow/*']);
  if (pageOwn) {
    record(`tfjs ${version}: esbuild a page with emoSens + cpu target, tfjs external`, true, `${kb(pageOwn.min)} min, ${kb(pageOwn.gzip)} gzip`);
    rows.push({ entry: 'page: emoSens + cpu target (tree-shaken)', full: pageOwn });
  }
  const withTfjs = await tryBuild('a page with @tensorflow/tfjs and @emosens/tfjs', page, []);
  if (withTfjs) {
    record(`tfjs ${version}: esbuild a page with @tensorflow/tfjs + @emosens/tfjs + backend-cpu`, true, `${kb(withTfjs.min)} min, ${kb(withTfjs.gzip)} gzip`);
    rows.push({ entry: 'page: @tensorflow/tfjs + emoSens + cpu target', full: withTfjs });
  }
  return rows;
}

function otherEmosens(spec) {
  const base = spec.split('/').slice(0, 2).join('/');
  return packages.map((p) => p.manifest.name).filter((n) => n !== base).flatMap((n) => [n, `${n}/*`]);
}

// --- The scratch project's sources ------------------------------------------------


/** One training script; `kind` only changes how it is loaded (ESM import or CommonJS require under node16). */
function trainSource(kind) {
  return `// ${kind === 'esm' ? 'ESM (train.mts -> train.mjs)' : 'CommonJS (train.cts -> train.cjs: its imports compile to require())'}
import * as tf from '@tensorflow/tfjs';
import { chain, explainFusion, statefulOptimizer, type GradientTransformation } from '@emosens/core';
import { scaleByAdam } from '@emosens/moments';
import { addDecayedWeights, scaleByLearningRate } from '@emosens/modifiers';
import { emoSensV3 } from '@emosens/optimizers';
import { emoSens, TransformOptimizer } from '@emosens/tfjs';
import { emotionLogs } from '@emosens/tfjs/callbacks';
import { registerCpuKernels, registerWasmKernels } from '@emosens/backend-cpu';
import { registerWebGpuKernels } from '@emosens/backend-webgpu';
import { setupNodeWebGpu } from '@emosens/backend-webgpu/node';
import { registerNodeGpuKernels } from '@emosens/backend-node-gpu';
import { findGoldenDir } from '@emosens/golden';

const KIND = '${kind}';

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(\`consumer (\${KIND}): \${what}\`);
  console.log(\`consumer: ok \${what}\`);
}

async function fitOnce(optimizer: TransformOptimizer, label: string, logEmotion = false): Promise<tf.LayersModel> {
  const xs = tf.randomUniform([128, 2], -1, 1, 'float32', 1);
  const ys = tf.sum(tf.square(xs), 1, true);
  const model = tf.sequential({
    layers: [tf.layers.dense({ inputShape: [2], units: 16, activation: 'tanh', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
             tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })],
  });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  const callbacks = logEmotion ? [emotionLogs(optimizer)] : [];
  const history = await model.fit(xs, ys, { epochs: 30, batchSize: 32, verbose: 0, callbacks });
  const losses = history.history.loss as number[];
  check(losses.at(-1)! < losses[0]!, \`model.fit with \${label}: loss \${losses[0]!.toFixed(4)} -> \${losses.at(-1)!.toFixed(4)}\`);
  if (logEmotion) check((history.history.emotion ?? []).length === 30, 'emotionLogs (@emosens/tfjs/callbacks) put the emotion scalar in the history');
  tf.dispose([xs, ys]);
  return model;
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  console.log(\`consumer: \${KIND}, tfjs \${tf.version.tfjs}, backend \${tf.getBackend()}\`);
  check(typeof registerWebGpuKernels === 'function' && typeof registerNodeGpuKernels === 'function', 'every backend package loads');
  check(typeof findGoldenDir === 'function', '@emosens/golden loads');

  // A ready-made optimizer in model.fit, then saved with its optimizer and loaded again.
  const model = await fitOnce(emoSens({ lr: 1e-2 }), 'emoSens', true);
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }), { includeOptimizer: true });
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
  check(loaded.optimizer instanceof TransformOptimizer, 'model.save / loadLayersModel restores the emosens optimizer');

  // A custom chain in model.fit.
  const myAdamW: GradientTransformation<any> = chain(scaleByAdam(), addDecayedWeights(0.01), scaleByLearningRate(1e-2));
  await fitOnce(new TransformOptimizer(myAdamW), 'a custom chain (TransformOptimizer)');

  // A custom chain through statefulOptimizer, composed and then fused on the cpu target.
  const target = tf.tensor1d([0.5, -1, 1.5]);
  const lossOf = (w: tf.Tensor) => tf.sum(tf.square(tf.sub(w, target))) as tf.Scalar;
  const runChain = (label: string): void => {
    const opt = statefulOptimizer(chain(scaleByAdam(), scaleByLearningRate(0.05)), { w: tf.zeros([3]) });
    let first = 0;
    let last = 0;
    for (let i = 0; i < 200; i++) {
      const { value, grads } = tf.valueAndGrads(lossOf)([opt.params.w!]);
      last = value.dataSync()[0]!;
      if (i === 0) first = last;
      opt.step({ w: grads[0]! }, { loss: last });
      tf.dispose([value, ...grads]);
    }
    check(last < first * 1e-2, \`statefulOptimizer(chain(scaleByAdam(), scaleByLearningRate(0.05))) \${label}: loss \${first.toFixed(3)} -> \${last.toExponential(2)}\`);
    opt.dispose();
  };
  runChain('composed');
  const unregister = registerCpuKernels();
  const fusion = explainFusion(chain(scaleByAdam(), scaleByLearningRate(0.05)), 'cpu');
  check(fusion.fused, \`explainFusion on cpu after registerCpuKernels: \${JSON.stringify(fusion)}\`);
  runChain('fused (cpu target)');
  await fitOnce(new TransformOptimizer(emoSensV3()), 'emoSensV3 (a chain from @emosens/optimizers), fused on cpu');
  unregister();

  // The same chain fused on tfjs-backend-wasm (single thread: Node cannot start its workers).
  await import('@tensorflow/tfjs-backend-wasm');
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  check(await tf.setBackend('wasm'), \`tf.setBackend('wasm') (tfjs-backend-wasm \${tf.version.tfjs})\`);
  const unregisterWasm = registerWasmKernels();
  check(explainFusion(chain(scaleByAdam(), scaleByLearningRate(0.05)), 'wasm').fused, 'explainFusion on wasm after registerWasmKernels: fused');
  runChain('fused (wasm target)');
  unregisterWasm();

  // The Node-only subpath loads and never throws (no 'webgpu' package here: ok is false).
  const setup = await setupNodeWebGpu({ setBackend: false });
  check(typeof setup.ok === 'boolean', \`@emosens/backend-webgpu/node: setupNodeWebGpu() resolved (ok: \${setup.ok})\`);
  console.log('consumer: all passed');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
`;
}
