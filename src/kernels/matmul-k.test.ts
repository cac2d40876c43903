// matmul with K-quant weights (Q4_K, Q5_K, Q6_K) on both paths: awkward M and N, K of 1 to 4 super-blocks
// (odd block counts put every other Q6_K row on a 2-byte boundary).
import { describe, expect, it } from 'vitest';
import { MATMUL_WEIGHT_TYPES, matmul } from './matmul.ts';
import { matmulRef } from '../reference/matmul.ts';
import { dequantize, quantize } from '../formats/quantize.ts';
import { Rng } from '../testing/rng.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';

const K_TYPES = ['Q4_K', 'Q5_K', 'Q6_K'] as const;

interface Case { M: number; N: number; K: number; bias?: boolean; accumulate?: boolean }

// Pipeline compiles dominate on SwiftShader (seconds each), so the gemv cases share one row bucket (4:
// M = 3 leaves an accumulator unused) and one gemm pipeline per type; matmul.test.ts runs every type in
// the table, K-quants included, through its other buckets. gemm tiles are 64x64, so all are partial.
const GEMV: Case[] = [
  { M: 3, N: 1, K: 256 },
  { M: 4, N: 37, K: 768, bias: true },
  { M: 3, N: 130, K: 1024, accumulate: true },
];
const GEMM: Case[] = [
  { M: 9, N: 67, K: 256, bias: true },
  { M: 65, N: 33, K: 512, accumulate: true },
  { M: 17, N: 129, K: 768 },
];

async function check(type: (typeof K_TYPES)[number], path: 'gemv' | 'gemm', c: Case, rng: Rng): Promise<void> {
  const gpu = await testGpu();
  const { M, N, K } = c;
  const x = rng.f32(M * K);
  const wBytes = quantize(type, rng.f32(N * K, 0.5));
  const w = dequantize(type, wBytes, N * K);
  const bias = c.bias ? rng.f32(N) : undefined;
  const prev = c.accumulate ? rng.f32(M * N) : undefined;
  const tx = gpu.upload(x, [M, K]);
  const tw = gpu.upload(wBytes, [N, K], type);
  const tb = bias ? gpu.upload(bias, [N]) : undefined;
  const out = prev ? gpu.upload(prev, [M, N]) : poisoned(gpu, [M, N]);
  gpu.run((rec) => matmul(gpu, rec, tx, tw, out, { path, bias: tb, accumulate: c.accumulate }));
  const got = await gpu.readF32(out);
  for (const t of [tx, tw, tb, out]) t?.release();

  // The reference sums the CPU-dequantized weights in double precision. Any f32 summation order (with or
  // without fused multiply-adds) is within (K + 2) * 2^-24 * sum |terms| of the exact sum: the classic
  // a-priori bound, so this cannot flake. A wrong nibble, scale or min moves a sum by about |x| times a
  // quantization step or more, which is far outside it on these sizes.
  const want = matmulRef(x, w, M, N, K, { bias, prev });
  const bad: string[] = [];
  let count = 0;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let mag = Math.abs(bias?.[n] ?? 0) + Math.abs(prev?.[m * N + n] ?? 0);
      for (let k = 0; k < K; k++) mag += Math.abs(x[m * K + k] * w[n * K + k]);
      const i = m * N + n;
      const tol = (K + 2) * 2 ** -24 * mag;
      if (!(Math.abs(got[i] - want[i]) <= tol)) {
        count++;
        if (bad.length < 4) bad.push(`[${m}, ${n}] got ${got[i]}, expected ${want[i]} (tol ${tol.toExponential(2)})`);
      }
    }
  }
  if (count) throw new Error(`matmul ${path} ${type} M=${M} N=${N} K=${K}: ${count}/${M * N} outside the bound; ${bad.join('; ')}`);
}

describe('matmul with K-quant weights', () => {
  it('has Q4_K, Q5_K and Q6_K in its weight table', () => {
    for (const t of K_TYPES) expect(MATMUL_WEIGHT_TYPES[t], t).toBeDefined();
  });
  for (const type of K_TYPES) {
    it(`${type}: gemv matches the reference`, async () => {
      const rng = new Rng(7 + type.charCodeAt(1));
      for (const c of GEMV) await check(type, 'gemv', c, rng);
    });
    it(`${type}: gemm matches the reference`, async () => {
      const rng = new Rng(17 + type.charCodeAt(1));
      for (const c of GEMM) await check(type, 'gemm', c, rng);
    });
  }
});
