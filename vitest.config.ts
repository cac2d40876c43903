import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Dawn needs a Vulkan driver; with no GPU here that is SwiftShader, shipped by Debian's chromium package.
const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
const env: Record<string, string> = { NODEVICE_SELECT: '1' };
if (!process.env.VK_ICD_FILENAMES && existsSync(swiftshader)) env.VK_ICD_FILENAMES = swiftshader;

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'scripts/**/*.test.ts'],
    exclude: ['src/**/*.f16.test.ts', '**/node_modules/**'],
    pool: 'forks',
    // Two cores: more than two GPU-heavy files at once only thrashes SwiftShader.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env,
  },
});
