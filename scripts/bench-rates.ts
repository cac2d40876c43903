// The yardsticks the benchmarks measure in their own run, on their own device: GPU time of recorded work
// (timestamp queries when the device has them, else wall clock around onSubmittedWorkDone), the
// buffer-to-buffer copy bandwidth, and the rate of a large matmul.

import type { Gpu } from '../src/gpu/gpu.ts';
import type { Recorder } from '../src/gpu/recorder.ts';
import type { GgmlTypeName } from '../src/formats/ggml-types.ts';
import { quantize } from '../src/formats/quantize.ts';
import { matmul, matmulCost } from '../src/kernels/matmul.ts';
import { Rng } from '../src/testing/rng.ts';
import { copyBandwidth as measureCopyBandwidth, median } from '../src/bench/measure.ts';

/** Milliseconds per run of `record`, sorted ascending, after one warm-up run (pipelines compiled,
 *  bind groups cached, buffers pooled). */
export async function gpuTimes(gpu: Gpu, label: string, record: (rec: Recorder) => void, n: number): Promise<number[]> {
  gpu.run(record, label);
  await gpu.sync();
  const times: number[] = [];
  const useTs = gpu.info.features.timestampQuery;
  for (let i = 0; i < n; i++) {
    if (useTs) {
      gpu.profiler.enable(true);
      gpu.run(record, label);
      const t = await gpu.profiler.collect();
      gpu.profiler.enable(false);
      times.push(t.reduce((s, k) => s + k.totalMs, 0));
    } else {
      const t0 = performance.now();
      gpu.run(record, label);
      await gpu.device.queue.onSubmittedWorkDone();
      times.push(performance.now() - t0);
    }
  }
  await gpu.sync();
  return times.sort((a, b) => a - b);
}

export { median };

/** GB/s of 64 MiB buffer-to-buffer copies on the device, read + write, median of 5 (src/bench/measure.ts,
 *  shared with the benchmark page). */
export async function copyBandwidth(gpu: Gpu): Promise<number> {
  return (await measureCopyBandwidth(gpu)).gbPerS;
}

export interface MatmulRate {
  shape: string;
  ms: number;
  gflopPerS: number;
}

/**
 * The matmul ceiling for prefill: GFLOP/s of an M x N x K matmul with `type` weights, starting at
 * 64 x 1024 x 1024 and doubling every side while one run takes under 100 ms (up to 512 x 8192 x 8192),
 * so a fast GPU is not measured on a launch-bound shape and a CPU Vulkan driver is not kept for minutes.
 */
export async function matmulCeiling(gpu: Gpu, type: GgmlTypeName, reps = 2): Promise<MatmulRate> {
  let M = 64, N = 1024;
  for (;;) {
    const r = await matmulRate(gpu, type, M, N, N, reps);
    if (r.ms >= 100 || M >= 512) return r;
    M *= 2;
    N *= 2;
  }
}

/** GFLOP/s of one M x N x K matmul with `type` weights (median of `reps` GPU times). */
export async function matmulRate(gpu: Gpu, type: GgmlTypeName, M: number, N: number, K: number, reps = 3): Promise<MatmulRate> {
  const rng = new Rng(17);
  const x = gpu.upload(rng.f32(M * K), [M, K]);
  const w = gpu.upload(quantize(type, rng.f32(N * K, 1 / Math.sqrt(K))), [N, K], type);
  const o = gpu.tensor([M, N]);
  try {
    const ms = median(await gpuTimes(gpu, `matmul ${type}`, (rec) => matmul(gpu, rec, x, w, o), reps));
    return { shape: `${type} ${M}x${N}x${K}`, ms, gflopPerS: matmulCost(M, N, K, type).flops / (ms / 1e3) / 1e9 };
  } finally {
    for (const t of [x, w, o]) t.release();
  }
}
