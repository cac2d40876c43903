// Kernel self-checks that run anywhere a Gpu exists: the browser test and the demo page run them in
// Chromium, proving the browser path computes what the references compute.

import type { Gpu } from '../gpu/gpu.ts';
import { compareArrays } from './compare.ts';
import { Rng } from './rng.ts';
import { add } from '../kernels/add.ts';
import { addRef } from '../reference/add.ts';

export interface CheckResult {
  name: string;
  ok: boolean;
  message: string;
  ms: number;
}

export interface KernelCheck {
  name: string;
  run(gpu: Gpu, rng: Rng): Promise<string>; // throws on mismatch, returns a summary
}

async function expectGpu(actual: Float32Array, expected: ArrayLike<number>, atol: number, rtol: number, what: string): Promise<string> {
  const r = compareArrays(actual, expected, { atol, rtol }, what);
  if (!r.ok) throw new Error(r.message);
  return r.message;
}

export const KERNEL_CHECKS: KernelCheck[] = [
  {
    name: 'add (broadcast, 37x1001)',
    async run(gpu, rng) {
      const a = rng.f32(37 * 1001), b = rng.f32(1001);
      const ta = gpu.upload(a, [37, 1001]), tb = gpu.upload(b, [1001]);
      const out = gpu.tensor([37, 1001]);
      gpu.poison(out);
      gpu.run((rec) => add(gpu, rec, ta, tb, out));
      const got = await gpu.readF32(out);
      [ta, tb, out].forEach((t) => t.release());
      return expectGpu(got, addRef(a, b), 0, 0, 'add');
    },
  },
];

export async function runKernelChecks(gpu: Gpu, onResult?: (r: CheckResult) => void, seed = 1234): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const c of KERNEL_CHECKS) {
    const t0 = performance.now();
    let r: CheckResult;
    try {
      const message = await c.run(gpu, new Rng(seed));
      await gpu.sync();
      r = { name: c.name, ok: true, message, ms: performance.now() - t0 };
    } catch (e) {
      r = { name: c.name, ok: false, message: (e as Error).message, ms: performance.now() - t0 };
    }
    results.push(r);
    onResult?.(r);
  }
  return results;
}
