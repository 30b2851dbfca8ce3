import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.mjs';

const shared = sharedTestConfig(import.meta.url);

// The browser tests drive one Chromium for several minutes (WebGPU on SwiftShader is slow).
export default defineConfig({
  ...shared,
  test: { ...shared.test, testTimeout: 240_000, hookTimeout: 120_000, fileParallelism: false },
});
