import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// The f16 kernel variants need a device with shader-f16: Mesa lavapipe, unpacked by scripts/setup.sh.
const icd = resolve(__dirname, '.cache/lavapipe/lvp_icd.json');
if (!existsSync(icd)) throw new Error(`${icd} is missing: run scripts/setup.sh (it unpacks Mesa's lavapipe there)`);

export default defineConfig({
  test: {
    include: ['src/**/*.f16.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // lavapipe runs these kernels on the CPU: a run beside other heavy work took over 120 s per test.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    env: { VK_ICD_FILENAMES: icd, NODEVICE_SELECT: '1' },
  },
});
