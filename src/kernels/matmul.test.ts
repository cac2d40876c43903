import { describe, expect, it } from 'vitest';
import {
  GEMV_MAX_M, MATMUL_WEIGHT_TYPES, matmul, matmulCost, matmulPath, matmulWeightTypes, type MatmulOptions,
} from './matmul.ts';
import { matmulRef } from '../reference/matmul.ts';
import {
  dequantizeQ4_0, dequantizeQ4_1, dequantizeQ8_0, quantizeQ4_0, quantizeQ4_1, quantizeQ8_0,
} from '../formats/quants-basic.ts';
import { f16ArrayToF32, f32ArrayToF16 } from '../formats/f16.ts';
import { GGML_BLOCK, type GgmlTypeName } from '../formats/ggml-types.ts';
import { Rng } from '../testing/rng.ts';
import { expectClose } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';
import type { DType } from '../gpu/tensor.ts';

type Codec = { quantize: (s: Float32Array) => Uint8Array; dequantize: (b: Uint8Array, n: number) => Float32Array };
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const CODECS: Partial<Record<DType, Codec>> = {
  F32: { quantize: (s) => bytesOf(Float32Array.from(s)), dequantize: (b, n) => new Float32Array(b.slice(0, 4 * n).buffer) },
  F16: { quantize: (s) => bytesOf(f32ArrayToF16(s)), dequantize: (b, n) => f16ArrayToF32(new Uint16Array(b.slice(0, 2 * n).buffer)) },
  Q8_0: { quantize: quantizeQ8_0, dequantize: dequantizeQ8_0 },
  Q4_0: { quantize: quantizeQ4_0, dequantize: dequantizeQ4_0 },
  Q4_1: { quantize: quantizeQ4_1, dequantize: dequantizeQ4_1 },
};

/** The codec for a weight type; types added to MATMUL_WEIGHT_TYPES later (K-quants) come from the
 *  quantize() dispatcher, loaded only then so this file runs before quants-k.ts exists. */
async function codecFor(dtype: DType): Promise<Codec> {
  const local = CODECS[dtype];
  if (local) return local;
  const q = await import('../formats/quantize.ts');
  const name = dtype as Parameters<typeof q.quantize>[0];
  return { quantize: (s) => q.quantize(name, s), dequantize: (b, n) => q.dequantize(name, b, n) };
}

function rms(a: Float32Array): number {
  let s = 0;
  for (const v of a) s += v * v;
  return Math.sqrt(s / Math.max(1, a.length));
}

interface Case { M: number; N: number; K: number; bias?: boolean; accumulate?: boolean; lead?: number[] }

async function check(dtype: DType, path: 'gemv' | 'gemm' | undefined, c: Case, rng: Rng): Promise<void> {
  const gpu = await testGpu();
  const { M, N, K } = c;
  const codec = await codecFor(dtype);
  const x = rng.f32(M * K);
  const wBytes = codec.quantize(rng.f32(N * K, 0.5));
  const w = codec.dequantize(wBytes, N * K);
  const bias = c.bias ? rng.f32(N) : undefined;
  const prev = c.accumulate ? rng.f32(M * N) : undefined;

  const xShape = c.lead ? [...c.lead, K] : [M, K];
  const outShape = c.lead ? [...c.lead, N] : [M, N];
  const tx = gpu.upload(x, xShape);
  const tw = gpu.upload(wBytes, [N, K], dtype);
  const tb = bias ? gpu.upload(bias, [N]) : undefined;
  const out = prev ? gpu.upload(prev, outShape) : poisoned(gpu, outShape);
  const opts: MatmulOptions = { path, bias: tb, accumulate: c.accumulate };
  gpu.run((rec) => matmul(gpu, rec, tx, tw, out, opts));
  const got = await gpu.readF32(out);
  // The reference sums dequantized weights in double precision, so what is left is the GPU's f32
  // accumulation order: rounding errors that grow like sqrt(K) relative to the typical |y| of
  // sqrt(K) * rms(x) * rms(w); 16 eps of headroom for that walk. A wrong weight, scale or nibble is
  // off by about rms(x) * rms(w) per term, far outside this. rtol: a few ulps for the final bias and
  // accumulate additions.
  const scale = Math.sqrt(K) * rms(x) * rms(w);
  const atol = 16 * 2 ** -23 * Math.sqrt(K) * scale;
  expectClose(got, matmulRef(x, w, M, N, K, { bias, prev }), { atol, rtol: 2 ** -21 },
    `matmul ${path ?? 'default'} ${dtype} M=${M} N=${N} K=${K}${c.bias ? ' +bias' : ''}${c.accumulate ? ' +=' : ''}`);
  for (const t of [tx, tw, tb, out]) t?.release();
}

const GEMV_CASES: Record<string, Case> = {
  A: { M: 1, N: 1, K: 32 },
  B: { M: 2, N: 67, K: 96, bias: true },
  C: { M: 3, N: 257, K: 288, accumulate: true },
  D: { M: 7, N: 3, K: 1024, bias: true, accumulate: true },
  E: { M: 1, N: 129, K: 2048 },
  F: { M: GEMV_MAX_M, N: 9, K: 64, lead: [2, 4] },
};
// Each gemv row bucket (1, 2, 4, 8) is its own pipeline and SwiftShader compiles slowly, so the basic
// formats share the cases out: every format meets at least three buckets, every case runs on at least
// two formats, and Q4_0 runs them all. A type added to the table later runs them all.
const GEMV_PLAN: Partial<Record<DType, string>> = { F32: 'ACDF', F16: 'ABD', Q8_0: 'BCE', Q4_0: 'ABCDEF', Q4_1: 'CEF' };
const GEMM_CASES: Case[] = [
  { M: 1, N: 3, K: 32 },
  { M: 33, N: 67, K: 96, bias: true },
  { M: 70, N: 257, K: 288, accumulate: true },
  { M: 9, N: 65, K: 1024, bias: true, accumulate: true },
  { M: 7, N: 1, K: 64, lead: [7] },
];
// Rows that are not a whole number of 8-value chunks (or of vec4s) exist only for block-1 formats.
const ODD_K_CASES: Case[] = [
  { M: 1, N: 5, K: 7 },
  { M: 3, N: 33, K: 37, bias: true },
  { M: 2, N: 3, K: 12 },
  { M: 65, N: 66, K: 100, accumulate: true },
];

describe('matmul', () => {
  for (const dtype of matmulWeightTypes()) {
    const blockSize = GGML_BLOCK[dtype as GgmlTypeName]!.blockSize;
    it(`${dtype}: gemv matches the reference`, async () => {
      const rng = new Rng(100 + blockSize);
      const plan = GEMV_PLAN[dtype] ?? Object.keys(GEMV_CASES).join('');
      for (const id of plan) {
        const c = GEMV_CASES[id];
        if (c.K % blockSize === 0) await check(dtype, 'gemv', c, rng);
      }
    });
    it(`${dtype}: gemm matches the reference`, async () => {
      const rng = new Rng(200 + blockSize);
      for (const c of GEMM_CASES) if (c.K % blockSize === 0) await check(dtype, 'gemm', c, rng);
    });
    if (blockSize === 1) {
      it(`${dtype}: both paths handle K that is not a multiple of 8 or 4`, async () => {
        const rng = new Rng(300);
        for (const c of ODD_K_CASES) await check(dtype, c.M <= GEMV_MAX_M ? 'gemv' : 'gemm', c, rng);
        await check(dtype, 'gemm', ODD_K_CASES[1], rng);
      });
    }
  }

  it('picks gemv up to GEMV_MAX_M rows and gemm above, by default', async () => {
    expect(matmulPath(1)).toBe('gemv');
    expect(matmulPath(GEMV_MAX_M)).toBe('gemv');
    expect(matmulPath(GEMV_MAX_M + 1)).toBe('gemm');
    expect(matmulPath(1, 'gemm')).toBe('gemm');
    const rng = new Rng(5);
    for (const M of [GEMV_MAX_M, GEMV_MAX_M + 1]) await check('Q4_1', undefined, { M, N: 5, K: 64 }, rng);
  });

  it('only records: no submit until the caller submits', async () => {
    const gpu = await testGpu();
    const tx = gpu.tensor([2, 32]), tw = gpu.tensor([4, 32], 'Q8_0'), out = gpu.tensor([2, 4]);
    const rec = gpu.recorder();
    const submits = gpu.counters.submits;
    matmul(gpu, rec, tx, tw, out);
    matmul(gpu, rec, tx, tw, out, { path: 'gemm' });
    expect(rec.dispatches).toBe(2);
    expect(gpu.counters.submits).toBe(submits);
    rec.submit();
    await gpu.sync();
  });

  it('refuses bad shapes and dtypes with typed errors naming the values', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor([3, 64]), out = gpu.tensor([3, 5]);
    const run = (fn: Parameters<typeof gpu.run>[0]) => () => gpu.run(fn);
    // Unsupported weight type: the error lists what is supported.
    const wk = gpu.tensor([5, 64], 'Q5_0');
    expect(run((rec) => matmul(gpu, rec, x, wk, out))).toThrow(UnsupportedDtypeError);
    expect(run((rec) => matmul(gpu, rec, x, wk, out))).toThrow(new RegExp(`Q5_0.*supported: ${matmulWeightTypes().join(', ')}`));
    // K not a whole number of blocks.
    const xq = gpu.tensor([3, 48]), wq = gpu.tensor([5, 48], 'Q4_0');
    expect(run((rec) => matmul(gpu, rec, xq, wq, out))).toThrow(ShapeError);
    expect(run((rec) => matmul(gpu, rec, xq, wq, out))).toThrow(/K = 48 .*Q4_0 block size 32/);
    // x's last dimension is not K; out is not [M, N]; bias is not [N]; x is not F32.
    const w = gpu.tensor([5, 64], 'F16');
    expect(run((rec) => matmul(gpu, rec, gpu.tensor([3, 32]), w, out))).toThrow(/last dimension must be K = 64/);
    expect(run((rec) => matmul(gpu, rec, x, w, gpu.tensor([3, 6])))).toThrow(/expected 3 rows of N = 5/);
    expect(run((rec) => matmul(gpu, rec, x, w, out, { bias: gpu.tensor([4]) }))).toThrow(/bias has 4 elements, expected N = 5/);
    expect(run((rec) => matmul(gpu, rec, gpu.tensor([3, 64], 'F16'), w, out))).toThrow(UnsupportedDtypeError);
    expect(run((rec) => matmul(gpu, rec, x, gpu.tensor([5, 8, 8], 'F32'), out))).toThrow(/w must be \[N, K\]/);
    // out sharing a buffer with an input.
    const sq = gpu.tensor([5, 5]);
    expect(run((rec) => matmul(gpu, rec, sq, gpu.tensor([5, 5]), sq))).toThrow(/out shares a GPU buffer with x/);
    // Forcing gemv on more rows than it holds.
    const xb = gpu.tensor([GEMV_MAX_M + 1, 64]), ob = gpu.tensor([GEMV_MAX_M + 1, 5]);
    expect(run((rec) => matmul(gpu, rec, xb, w, ob, { path: 'gemv' }))).toThrow(/gemv takes at most/);
  });

  it('counts bytes and FLOPs', () => {
    expect(matmulCost(1, 4096, 4096, 'Q4_0')).toEqual({ bytes: (4096 * 4096 / 32) * 18 + 4 * 4096 + 4 * 4096, flops: 2 * 4096 * 4096 });
    expect(matmulCost(3, 10, 64, 'F16', { bias: true, accumulate: true })).toEqual({ bytes: 10 * 64 * 2 + 4 * 3 * 64 + 2 * 4 * 3 * 10 + 40, flops: 2 * 3 * 10 * 64 });
  });

  it('every weight type in the table has a block layout', () => {
    for (const t of Object.keys(MATMUL_WEIGHT_TYPES) as DType[]) expect(GGML_BLOCK[t as GgmlTypeName]).toBeDefined();
  });
});
