// The shader-f16 matmul siblings (gemv_f16, gemm_f16) on lavapipe: F16 x, F16 or F32 out.
import { afterAll, describe, expect, it } from 'vitest';
import { matmul, type MatmulOptions } from './matmul.ts';
import { matmulRef } from '../reference/matmul.ts';
import { quantize, dequantize } from '../formats/quantize.ts';
import { f16ArrayToF32, f32ArrayToF16 } from '../formats/f16.ts';
import type { GgmlTypeName } from '../formats/ggml-types.ts';
import { Rng } from '../testing/rng.ts';
import { testGpu } from '../testing/gpu.ts';
import { F16_EPS, expectWithin, poisonedF16, readF16, reportF16Margins, roundedF16, uploadF16 } from '../testing/f16.ts';
import { poisoned } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';

afterAll(() => reportF16Margins('matmul'));

interface Case { M: number; N: number; K: number; bias?: boolean; accumulate?: boolean; outF32?: boolean; path?: 'gemv' | 'gemm' }

function weights(dtype: GgmlTypeName, src: Float32Array): Uint8Array {
  if (dtype === 'F16') { const h = f32ArrayToF16(src); return new Uint8Array(h.buffer); }
  if (dtype === 'F32') return new Uint8Array(src.buffer.slice(0));
  return quantize(dtype as Parameters<typeof quantize>[0], src);
}
function decoded(dtype: GgmlTypeName, bytes: Uint8Array, n: number): Float32Array {
  if (dtype === 'F16') return f16ArrayToF32(new Uint16Array(bytes.buffer, bytes.byteOffset, n));
  if (dtype === 'F32') return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  return dequantize(dtype as Parameters<typeof dequantize>[0], bytes, n);
}

async function check(dtype: GgmlTypeName, c: Case, rng: Rng): Promise<void> {
  const gpu = await testGpu();
  const { M, N, K } = c;
  const x = uploadF16(gpu, rng.f32(M * K), [M, K], 'x');
  const wBytes = weights(dtype, rng.f32(N * K, 0.5));
  // The kernel rounds each dequantized weight to f16: so does the reference.
  const w = roundedF16(decoded(dtype, wBytes, N * K));
  const tw = gpu.upload(wBytes, [N, K], dtype);
  const bias = c.bias ? rng.f32(N) : undefined;
  const tb = bias ? gpu.upload(bias, [N]) : undefined;
  let prev: Float32Array | undefined;
  let out;
  if (c.accumulate) {
    const p = rng.f32(M * N);
    if (c.outF32) { prev = p; out = gpu.upload(p, [M, N]); } else { const u = uploadF16(gpu, p, [M, N], 'out'); prev = u.v; out = u.t; }
  } else {
    out = c.outF32 ? poisoned(gpu, [M, N]) : poisonedF16(gpu, [M, N]);
  }
  const opts: MatmulOptions = { path: c.path, bias: tb, accumulate: c.accumulate };
  gpu.run((rec) => matmul(gpu, rec, x.t, tw, out, opts));
  const got = c.outF32 ? await gpu.readF32(out) : await readF16(gpu, out);
  const ref = matmulRef(x.v, w, M, N, K, { bias, prev });
  // Error sources past the f16-rounded inputs: each product rounded to f16 and summed four at a time
  // in f16 (relative 2^-11 of each term, random in sign, so the sum's error grows like the root of the
  // summed squares; 12 u of it is about six standard deviations), f16 products that fall below 2^-14
  // (subnormal: 2^-25 absolute each), the f32 accumulation (2^-21 relative, bias and accumulate
  // included), and for an F16 out the final rounding (u of |y|). A wrong weight or nibble is off by a
  // whole |x w| term, several times this bound at these K.
  const bound = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let sq = 0;
      for (let k = 0; k < K; k++) { const p = x.v[m * K + k] * w[n * K + k]; sq += p * p; }
      const y = Math.abs(ref[m * N + n]);
      bound[m * N + n] = 12 * F16_EPS * Math.sqrt(sq) + K * 2 ** -25 + 2 ** -21 * y + (c.outF32 ? 0 : F16_EPS * y);
    }
  }
  expectWithin(got, ref, bound, `matmul/${c.path ?? 'auto'} ${dtype} M=${M} N=${N} K=${K}${c.bias ? ' +bias' : ''}${c.accumulate ? ' +=' : ''}${c.outF32 ? ' out F32' : ''}`);
  for (const t of [x.t, tw, tb, out]) t?.release();
}

// lavapipe compiles each pipeline with LLVM (3-7 s each without its shader cache), so the cases share
// six pipelines, two cases each: both paths, both out dtypes, vec4 and scalar x, bias and accumulate,
// F16 and block-quantized weights. The weight includes themselves are the f32 tests' business: the f16
// kernels take their w_load8 output unchanged.
describe('matmul with F16 activations (shader-f16)', () => {
  it('gemv: F16 x, F16 or F32 out, F16 and Q4_0 weights', async () => {
    const rng = new Rng(1601);
    await check('F16', { M: 1, N: 67, K: 96, bias: true, path: 'gemv' }, rng);
    await check('F16', { M: 1, N: 129, K: 1000, bias: true, accumulate: true, path: 'gemv' }, rng);
    await check('Q4_0', { M: 8, N: 17, K: 1024, outF32: true, path: 'gemv' }, rng);
    await check('Q4_0', { M: 5, N: 3, K: 96, outF32: true, accumulate: true, path: 'gemv' }, rng);
  });

  it('gemm: F16 x, F16 or F32 out, tiles cut by M and N', async () => {
    const rng = new Rng(1602);
    await check('Q8_0', { M: 33, N: 67, K: 96, bias: true, path: 'gemm' }, rng);
    await check('Q8_0', { M: 70, N: 65, K: 288, accumulate: true, path: 'gemm' }, rng);
    await check('F16', { M: 9, N: 5, K: 1024, outF32: true, path: 'gemm' }, rng);
    await check('F16', { M: 65, N: 3, K: 200, bias: true, accumulate: true, outF32: true, path: 'gemm' }, rng);
  });

  it('rows that end mid-chunk (K not a multiple of 8 or 4) on both paths', async () => {
    const rng = new Rng(1603);
    await check('F16', { M: 2, N: 5, K: 7, path: 'gemv' }, rng);
    await check('F16', { M: 2, N: 33, K: 37, bias: true, path: 'gemv' }, rng);
    await check('F16', { M: 65, N: 66, K: 37, accumulate: true, path: 'gemm' }, rng);
    await check('F16', { M: 17, N: 9, K: 10, path: 'gemm' }, rng);
  });

  it('refuses an F16 out for an F32 x, and mixed-up dtypes, with typed errors', async () => {
    const gpu = await testGpu();
    const w = gpu.tensor([5, 64], 'Q8_0');
    const run = (fn: Parameters<typeof gpu.run>[0]) => () => gpu.run(fn);
    expect(run((rec) => matmul(gpu, rec, gpu.tensor([3, 64]), w, gpu.tensor([3, 5], 'F16')))).toThrow(UnsupportedDtypeError);
    expect(run((rec) => matmul(gpu, rec, gpu.tensor([3, 64]), w, gpu.tensor([3, 5], 'F16')))).toThrow(/F16 out needs an F16 x/);
    expect(run((rec) => matmul(gpu, rec, gpu.tensor([3, 64], 'Q8_0'), w, gpu.tensor([3, 5])))).toThrow(/matmul \(x\).*Q8_0/);
    expect(run((rec) => matmul(gpu, rec, gpu.tensor([3, 64], 'F16'), w, gpu.tensor([3, 6], 'F16')))).toThrow(ShapeError);
  });
});
