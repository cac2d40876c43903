// Shapes benchmarked by bench-kernels.ts. Each case allocates its inputs once, records one op, and says
// how many bytes it must move and how many floating-point operations it does.

import type { Gpu } from '../src/gpu/gpu.ts';
import type { Recorder } from '../src/gpu/recorder.ts';
import { Rng } from '../src/testing/rng.ts';
import { add } from '../src/kernels/add.ts';

export interface BenchInstance {
  record(rec: Recorder): void;
  bytes: number;
  flops: number;
  dispose(): void;
}

export interface BenchCase {
  name: string;
  setup(gpu: Gpu): Promise<BenchInstance>;
}

const rng = new Rng(7);

export const BENCH_CASES: BenchCase[] = [
  {
    name: 'add f32 [1, 4096] (residual, decode)',
    async setup(gpu) {
      const n = 4096;
      const a = gpu.upload(rng.f32(n), [1, n]), b = gpu.upload(rng.f32(n), [1, n]), o = gpu.tensor([1, n]);
      return { record: (rec) => add(gpu, rec, a, b, o), bytes: 12 * n, flops: n, dispose: () => [a, b, o].forEach((t) => t.release()) };
    },
  },
  {
    name: 'add f32 [512, 4096] (residual, prefill)',
    async setup(gpu) {
      const n = 512 * 4096;
      const a = gpu.upload(rng.f32(n), [512, 4096]), b = gpu.upload(rng.f32(n), [512, 4096]), o = gpu.tensor([512, 4096]);
      return { record: (rec) => add(gpu, rec, a, b, o), bytes: 12 * n, flops: n, dispose: () => [a, b, o].forEach((t) => t.release()) };
    },
  },
];
