import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.mjs';

const shared = sharedTestConfig(import.meta.url);

// The WebGPU tests run on Debian chromium's SwiftShader (a CPU Vulkan driver) when it is
// installed (.ci/run installs it). Both variables must be in the environment when the test
// process starts: Dawn reads VK_ICD_FILENAMES when it creates its Vulkan instance, and the
// dynamic loader reads LD_LIBRARY_PATH only at start-up. chromium 156 bundles the Vulkan
// loader (libvulkan.so.1) beside its driver; the system's libvulkan1 also works.
const CHROMIUM = '/usr/lib/chromium';
const env: Record<string, string> = {};
if (existsSync(`${CHROMIUM}/vk_swiftshader_icd.json`)) {
  env.VK_ICD_FILENAMES = process.env.VK_ICD_FILENAMES ?? `${CHROMIUM}/vk_swiftshader_icd.json`;
  env.LD_LIBRARY_PATH = [process.env.LD_LIBRARY_PATH, CHROMIUM].filter(Boolean).join(':');
  // SwiftShader complains on stderr when this is unset (as in CI containers).
  env.XDG_RUNTIME_DIR = process.env.XDG_RUNTIME_DIR ?? tmpdir();
}

export default defineConfig({ ...shared, test: { ...shared.test, env } });
