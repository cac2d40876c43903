import { describe, expect, it } from 'vitest';
import { DEQUANT_TYPES, dequantizeRows } from './dequant.ts';
import { dequantizeRowsRef } from '../reference/dequant.ts';
import { quantize } from '../formats/quantize.ts';
import type { GgmlTypeName } from '../formats/ggml-types.ts';
import { Rng } from '../testing/rng.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';

/** Bit-for-bit equality (so -0 vs +0 and NaN payloads count), naming the first differences. */
function expectBitExact(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i]) {
      count++;
      if (bad.length < 5) bad.push(`[${i}] got ${got[i]}, expected ${want[i]}`);
    }
  }
  if (count) throw new Error(`${what}: ${count}/${g.length} values differ; ${bad.join('; ')}`);
}

/** N rows of K values; row 0 is tiny so K-quant d and dmin come out as f16 subnormals. */
function weights(rng: Rng, N: number, K: number): Float32Array {
  const x = rng.f32(N * K);
  for (let i = 0; i < K; i++) x[i] *= 1e-3;
  return x;
}

// Each w_load8 decodes with the CPU decoder's operations in the CPU's order (for the K-quants d * sc is
// exact, then one multiply and one subtract each round once), so the GPU must agree to the bit.
const K_CASES: [number, number][] = [[1, 256], [3, 512], [5, 768], [7, 1280]];
const BASIC_CASES: [number, number][] = [[1, 32], [3, 96], [5, 800], [9, 1024]];

describe('dequantizeRows', () => {
  for (const type of Object.keys(DEQUANT_TYPES) as GgmlTypeName[]) {
    const kQuant = type.endsWith('_K');
    it(`${type}: bit-exact against the CPU decoder on odd N and several K`, async () => {
      const gpu = await testGpu();
      const rng = new Rng(type.length * 101 + type.charCodeAt(1));
      for (const [N, K] of kQuant ? K_CASES : BASIC_CASES) {
        const bytes = quantize(type, weights(rng, N, K));
        const w = gpu.upload(bytes, [N, K], type);
        const out = poisoned(gpu, [N, K]);
        gpu.run((rec) => dequantizeRows(gpu, rec, w, out));
        expectBitExact(await gpu.readF32(out), dequantizeRowsRef(type, bytes, N, K), `${type} [${N}, ${K}]`);
        w.release();
        out.release();
      }
    });
  }

  it('refuses formats without an include, bad K and mismatched outputs, naming the values', async () => {
    const gpu = await testGpu();
    const out = gpu.tensor([2, 256]);
    const q50 = gpu.tensor([2, 256], 'Q5_0');
    expect(() => gpu.run((rec) => dequantizeRows(gpu, rec, q50, out))).toThrow(UnsupportedDtypeError);
    expect(() => gpu.run((rec) => dequantizeRows(gpu, rec, q50, out))).toThrow(/dequantizeRows \(w\): dtype Q5_0/);
    const q4k = gpu.tensor([2, 128], 'Q4_K');
    expect(() => gpu.run((rec) => dequantizeRows(gpu, rec, q4k, gpu.tensor([2, 128])))).toThrow(/K = 128 is not a multiple of 256 \(Q4_K\)/);
    const f32 = gpu.tensor([2, 12], 'F32');
    expect(() => gpu.run((rec) => dequantizeRows(gpu, rec, f32, gpu.tensor([2, 12])))).toThrow(ShapeError);
    const q6k = gpu.tensor([2, 256], 'Q6_K');
    expect(() => gpu.run((rec) => dequantizeRows(gpu, rec, q6k, gpu.tensor([3, 256])))).toThrow(/out has shape \[3, 256\], expected \[2, 256\]/);
    expect(() => gpu.run((rec) => dequantizeRows(gpu, rec, q6k, gpu.tensor([2, 256], 'F16')))).toThrow(UnsupportedDtypeError);
  });
});
