import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.mjs';

const shared = sharedTestConfig(import.meta.url);

// Each example runs in its own Node process; two at a time suits the 2-core CI machines.
export default defineConfig({
  ...shared,
  test: { ...shared.test, maxConcurrency: 2, testTimeout: 400_000, hookTimeout: 400_000 },
});
