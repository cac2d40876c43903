// What the benchmarks compute from their own runs, in Node (scripts/bench.ts) and in the benchmark page
// (bench.html): summaries of repeated runs, the bytes a decoded token must read, and the yardstick those
// bytes are held against — a buffer-to-buffer copy bandwidth measured on the same device in the same run.

import type { GgufTensorInfo } from '../formats/gguf.ts';
import type { Gpu } from '../gpu/gpu.ts';

// ---------------------------------------------------------------- summaries

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** Every measured run, in the order they ran. */
  runs: number[];
}

/** The middle value (the upper of the two middles for an even count, as the CLI reports it). */
export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

export function summarize(xs: readonly number[]): Summary {
  if (xs.length === 0) return { median: NaN, min: NaN, max: NaN, runs: [] };
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: [...xs] };
}

// ---------------------------------------------------------------- what a token costs

/** Bytes of weights one decoded token reads: every tensor once, except the embedding table, of which
 *  the row lookup reads one row (all of it when the output projection is tied to it). */
export function weightBytesPerToken(tensors: readonly Pick<GgufTensorInfo, 'name' | 'shape' | 'byteLength'>[]): number {
  const tied = !tensors.some((t) => t.name === 'output.weight');
  let n = 0;
  for (const t of tensors) {
    if (t.name === 'token_embd.weight') n += t.byteLength / t.shape[0] + (tied ? t.byteLength : 0);
    else n += t.byteLength;
  }
  return n;
}

export interface KvDims {
  nLayer: number;
  nHeadKv: number;
  headDim: number;
}

/** F32 keys and values read by the decode step at position `pos` (attention over pos + 1 positions). */
export const kvBytesAt = (d: KvDims, pos: number): number => d.nLayer * 2 * (pos + 1) * d.nHeadKv * d.headDim * 4;

/** Mean KV bytes per decode step for `steps` steps after a prompt of `promptTokens`. */
export function kvBytesPerDecodedToken(d: KvDims, promptTokens: number, steps: number): number {
  if (steps < 1) return 0;
  let kv = 0;
  for (let s = 0; s < steps; s++) kv += kvBytesAt(d, promptTokens + s);
  return kv / steps;
}

// ---------------------------------------------------------------- the yardstick

export interface CopyBandwidth {
  /** GB/s counting bytes read plus bytes written. */
  gbPerS: number;
  bytes: number;
  /** Milliseconds per copy, every measured run. */
  runsMs: number[];
}

/** Buffer-to-buffer copies of `bytes` on the device, timed to queue completion; the first copy (first
 *  touch of the pages) is not counted. Median of `reps`. */
export async function copyBandwidth(gpu: Gpu, bytes = 64 << 20, reps = 5): Promise<CopyBandwidth> {
  const a = gpu.tensor([bytes / 4]);
  const b = gpu.tensor([bytes / 4]);
  const runsMs: number[] = [];
  try {
    for (let i = 0; i <= reps; i++) {
      const s = performance.now();
      gpu.run((rec) => rec.copy(a, b, bytes), 'copy-bandwidth');
      await gpu.device.queue.onSubmittedWorkDone();
      if (i > 0) runsMs.push(performance.now() - s);
    }
  } finally {
    a.release();
    b.release();
  }
  return { gbPerS: (2 * bytes) / (median(runsMs) / 1e3) / 1e9, bytes, runsMs };
}
