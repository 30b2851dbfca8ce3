// Browser tests: load the built playground (dist/, built by the `test` script first) from a
// plain static server into Debian's chromium, and on each backend run every ready-made
// optimizer (and the page's custom chain) on a 2-D test function and on MNIST.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlaygroundHook } from '../src/main';
import { serveStatic } from './static-server';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '..', 'dist');
const outputDir = path.join(here, '..', 'test-output');
const CHROMIUM = '/usr/bin/chromium';

/** Headless Debian chromium with WebGPU on SwiftShader (../shared/ENVIRONMENT.md). */
const FLAGS = [
  '--no-sandbox',
  '--headless=new',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-angle=swiftshader',
  '--use-vulkan=swiftshader',
  '--disable-vulkan-surface',
];

/** Backends with a fusion target: every ready-made optimizer must take the fused path there. */
const FUSED_BACKENDS = new Set(['cpu', 'wasm', 'webgpu']);
/** Few steps: WebGPU on SwiftShader is slow, and the whole file should stay near 3 minutes. */
const RACE_STEPS = 25;
const MNIST_STEPS = 8;

const missing = !existsSync(CHROMIUM) ? `chromium not found at ${CHROMIUM} (apt-get install chromium libvulkan1; .ci/run does)` : !existsSync(path.join(dist, 'index.html')) ? 'dist/ is not built (the test script runs vite build first)' : null;
if (missing !== null) console.warn(`playground browser tests skipped: ${missing}`);

describe.skipIf(missing !== null)('playground in chromium', () => {
  let browser: Browser;
  let server: Awaited<ReturnType<typeof serveStatic>>;

  beforeAll(async () => {
    mkdirSync(outputDir, { recursive: true });
    server = await serveStatic(dist);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A fresh page on the built site, its console errors and page errors collected. */
  async function openPage(): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1500 } });
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()}`));
    // Offline: anything outside the static site is refused (and counted as an error).
    await page.route('**/*', async (route) => {
      const url = route.request().url();
      if (url.startsWith(server.url)) return route.continue();
      errors.push(`request outside the site: ${url}`);
      return route.abort();
    });
    await page.goto(server.url);
    await page.waitForFunction(() => document.body.dataset['ready'] === 'true', undefined, { timeout: 60_000 });
    return { page, errors };
  }

  it.for(['webgpu', 'webgl', 'wasm', 'cpu'] as const)('%s: every optimizer lowers the loss on the noisy bowl and on MNIST', async (backend, context) => {
    const { page, errors } = await openPage();
    try {
      const started = Date.now();
      const optimizers = await page.evaluate(() => window.__playground!.optimizers);
      expect(optimizers.length).toBeGreaterThanOrEqual(20); // 19 ready-made + the custom chain
      // The custom chain's form shows the TypeScript that builds it.
      const code = await page.locator('#chain-code').textContent();
      expect(code).toContain('const transform = chain({');
      expect(code).toContain('new TransformOptimizer(transform)');
      const race = await page.evaluate(
        (o) => window.__playground!.race(o),
        { backend, fn: 'bowl', optimizers, steps: RACE_STEPS } satisfies Parameters<PlaygroundHook['race']>[0],
      );
      if (!race.backend.ok) {
        console.warn(`${backend} skipped: ${race.backend.reason}`);
        context.skip();
      }
      const raceSeconds = (Date.now() - started) / 1000;
      for (const trace of race.traces) {
        const first = trace.losses[0]!;
        const last = trace.losses.at(-1)!;
        expect.soft(trace.diverged, `${trace.id} diverged`).toBe(false);
        expect.soft(last, `${trace.id}: loss ${first} -> ${last}`).toBeLessThan(first);
        expect.soft(trace.paths.length, `${trace.id} steps`).toBe(RACE_STEPS);
        if (FUSED_BACKENDS.has(backend) && trace.id !== 'custom') {
          expect.soft(new Set(trace.paths), `${trace.id} path on ${backend}`).toEqual(new Set(['fused']));
        }
        if (backend === 'webgl') expect.soft(new Set(trace.paths), `${trace.id} path on webgl`).toEqual(new Set(['composed']));
      }

      const mnistStarted = Date.now();
      const mnist = await page.evaluate(
        (o) => window.__playground!.mnist(o),
        { backend, optimizers, steps: MNIST_STEPS, batchSize: 32 } satisfies Parameters<PlaygroundHook['mnist']>[0],
      );
      const mnistSeconds = (Date.now() - mnistStarted) / 1000;
      expect(mnist.runs.map((r) => r.id)).toEqual(optimizers);
      for (const run of mnist.runs) {
        const first = run.losses[0]!;
        const tail = run.losses.slice(-3);
        const lastMean = tail.reduce((a, b) => a + b, 0) / tail.length;
        expect.soft(lastMean, `${run.id}: MNIST loss ${run.losses.map((l) => l.toFixed(3)).join(' ')}`).toBeLessThan(first);
        if (FUSED_BACKENDS.has(backend) && run.id !== 'custom') {
          expect.soft(new Set(run.paths), `${run.id} MNIST path on ${backend}`).toEqual(new Set(['fused']));
        }
      }
      console.log(
        `${backend}: race ${race.traces.length} optimizers x ${RACE_STEPS} steps ${raceSeconds.toFixed(1)} s; ` +
          `MNIST ${mnist.runs.length} x ${MNIST_STEPS} steps ${mnistSeconds.toFixed(1)} s; custom chain path ${race.traces.at(-1)?.paths.at(-1)}`,
      );
      await page.screenshot({ path: path.join(outputDir, `playground-${backend}.png`), fullPage: true });
      expect(errors, 'console errors').toEqual([]);
    } finally {
      await page.close();
    }
  });
});
