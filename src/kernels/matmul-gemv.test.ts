// The two gemv variants (decode, one row of x) side by side on every weight format: 'subgroup'
// (matmul/gemv_sg: 4 weight rows per subgroup, whole-block word loops for Q4_0/Q8_0) and 'workgroup'
// (matmul/gemv). N around the 4-row groups and the 64-row workgroups, K from one block to several
// thousand values, Q4_0/Q8_0 rows that start on 2-byte boundaries (odd block counts), bias and
// accumulate; then which variant the device gets, and the typed refusals.
import { describe, expect, it } from 'vitest';
import { gemvVariant, matmul, matmulWeightTypes, type GemvVariant } from './matmul.ts';
import { matmulRef } from '../reference/matmul.ts';
import { dequantize, quantize } from '../formats/quantize.ts';
import { GGML_BLOCK, type GgmlTypeName } from '../formats/ggml-types.ts';
import { Rng } from '../testing/rng.ts';
import { expectClose } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { DeviceLimitError, ShapeError } from '../gpu/errors.ts';
import type { DType } from '../gpu/tensor.ts';

interface Case { N: number; blocks: number; bias?: boolean; accumulate?: boolean }

// blocks: K in weight blocks (block-1 formats use 32 * blocks values). Odd counts put every other
// Q4_0/Q8_0 row (18/34-byte blocks) and Q6_K row (210) on a 2-byte boundary. N = 1 and 3 leave most of a
// 4-row group empty, 67 and 130 cross 4-row groups and a 64-row workgroup.
const CASES: Case[] = [
  { N: 1, blocks: 1 },
  { N: 3, blocks: 3, bias: true },
  { N: 67, blocks: 5, accumulate: true },
  { N: 130, blocks: 2, bias: true, accumulate: true },
];

function rms(a: Float32Array): number {
  let s = 0;
  for (const v of a) s += v * v;
  return Math.sqrt(s / Math.max(1, a.length));
}

async function check(dtype: DType, variant: GemvVariant, N: number, K: number, c: Partial<Case>, rng: Rng): Promise<void> {
  const gpu = await testGpu();
  const name = dtype as GgmlTypeName;
  const x = rng.f32(K);
  const wBytes = quantize(name, rng.f32(N * K, 0.5));
  const w = dequantize(name, wBytes, N * K);
  const bias = c.bias ? rng.f32(N) : undefined;
  const prev = c.accumulate ? rng.f32(N) : undefined;
  const tx = gpu.upload(x, [1, K]);
  const tw = gpu.upload(wBytes, [N, K], dtype);
  const tb = bias ? gpu.upload(bias, [N]) : undefined;
  const out = prev ? gpu.upload(prev, [1, N]) : poisoned(gpu, [1, N]);
  gpu.run((rec) => matmul(gpu, rec, tx, tw, out, { path: 'gemv', gemvVariant: variant, bias: tb, accumulate: c.accumulate }));
  const got = await gpu.readF32(out);
  // The reference sums in double precision; the GPU's f32 partial sums (per lane, then across lanes)
  // round with errors growing like sqrt(K) relative to the typical |y| = sqrt(K) rms(x) rms(w): 16 eps
  // of headroom. A wrong nibble, scale or row is off by ~rms(x) rms(w), far outside. rtol covers the
  // bias and accumulate additions.
  const atol = 16 * 2 ** -23 * K * rms(x) * rms(w);
  expectClose(got, matmulRef(x, w, 1, N, K, { bias, prev }), { atol, rtol: 2 ** -21 },
    `gemv ${variant} ${dtype} N=${N} K=${K}${c.bias ? ' +bias' : ''}${c.accumulate ? ' +=' : ''}`);
  for (const t of [tx, tw, tb, out]) t?.release();
}

describe('matmul gemv variants', () => {
  const variants: GemvVariant[] = ['subgroup', 'workgroup'];
  for (const dtype of matmulWeightTypes()) {
    const block = GGML_BLOCK[dtype as GgmlTypeName]!.blockSize;
    const unit = block === 1 ? 32 : block;
    for (const variant of variants) {
      it(`${dtype}: ${variant} gemv matches the reference`, async () => {
        const gpu = await testGpu();
        if (variant === 'subgroup' && !gpu.info.features.subgroups) throw new Error('this test device has no subgroups: the subgroup gemv cannot be checked here');
        const rng = new Rng(400 + unit);
        // K-quant blocks are 256 values: fewer of them keep the test quick.
        for (const c of CASES) await check(dtype, variant, c.N, unit * (block === 256 ? Math.min(c.blocks, 3) : c.blocks), c, rng);
      });
    }
  }

  it('long rows: Q4_0, Q8_0 and Q4_K over K = 4096 on the subgroup variant', async () => {
    const rng = new Rng(41);
    for (const t of ['Q4_0', 'Q8_0', 'Q4_K'] as const) await check(t, 'subgroup', 9, 4096, {}, rng);
  });

  it('F32 and F16 rows that are not a whole number of 8-value chunks or vec4s, on the subgroup variant', async () => {
    const rng = new Rng(42);
    await check('F32', 'subgroup', 5, 7, { bias: true }, rng);
    await check('F16', 'subgroup', 6, 37, { accumulate: true }, rng);
    await check('F32', 'subgroup', 3, 172, {}, rng); // stories260K's ffn_down: K % 8 = 4
  });

  it('picks the subgroup variant for one F32 row where subgroups exist, else the workgroup one', async () => {
    const gpu = await testGpu();
    const sg = gpu.info.features.subgroups;
    expect(gemvVariant(gpu, 1, 'F32')).toBe(sg ? 'subgroup' : 'workgroup');
    expect(gemvVariant(gpu, 2, 'F32')).toBe('workgroup');
    expect(gemvVariant(gpu, 1, 'F16')).toBe('workgroup');
    expect(gemvVariant(gpu, 1, 'F32', 'workgroup')).toBe('workgroup');
  });

  it('refuses to force the subgroup variant where it cannot run, naming the values', async () => {
    const gpu = await testGpu();
    expect(() => gemvVariant(gpu, 3, 'F32', 'subgroup')).toThrow(gpu.info.features.subgroups ? ShapeError : DeviceLimitError);
    if (gpu.info.features.subgroups) expect(() => gemvVariant(gpu, 3, 'F32', 'subgroup')).toThrow(/one F32 row of x, got M = 3 of F32/);
    const x = gpu.tensor([2, 64]), w = gpu.tensor([5, 64], 'Q4_0'), out = gpu.tensor([2, 5]);
    expect(() => gpu.run((rec) => matmul(gpu, rec, x, w, out, { gemvVariant: 'subgroup' }))).toThrow(gpu.info.features.subgroups ? /M = 2/ : /subgroups/);
    for (const t of [x, w, out]) t.release();
  });
});
