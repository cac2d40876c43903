import { describe, expect, it } from 'vitest';
import { GET_ROWS_TYPES, getRows } from './get-rows.ts';
import { getRowsRef } from '../reference/get-rows.ts';
import { quantize } from '../formats/quantize.ts';
import { Rng } from '../testing/rng.ts';
import { expectClose } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';

// Tolerances: F32, F16, Q8_0 and Q4_0 decode with one rounding (value, or q * d) on both sides, and the
// scale is one more multiply: exact. Q4_1 and the K-quants compute d * q + m (d * sc * q - dmin * m), which
// a GPU compiler may fuse into one fma: allow an ulp or two of the block scale/offset magnitudes (on
// SwiftShader all eight formats measure exact).
const EXACT = { atol: 0, rtol: 0 };
const FUSABLE = { atol: 5e-7, rtol: 2.5e-7 };
const TOL: Record<string, { atol: number; rtol: number }> = { F32: EXACT, F16: EXACT, Q8_0: EXACT, Q4_0: EXACT };

function rowLength(type: string, i: number): number {
  if (type.endsWith('_K')) return [256, 512][i % 2];
  if (type.startsWith('Q')) return [32, 160][i % 2];
  return [8, 72][i % 2];
}

describe('getRows', () => {
  for (const type of GET_ROWS_TYPES) {
    it(`gathers ${type} rows (repeated ids, first and last rows, ids past the end give zero rows), with and without a scale`, async () => {
      const gpu = await testGpu();
      const rng = new Rng(71 + GET_ROWS_TYPES.indexOf(type));
      for (let c = 0; c < 2; c++) {
        const vocab = c ? 37 : 5, d = rowLength(type, c);
        const bytes = quantize(type, rng.f32(vocab * d, 2));
        const ids = c
          ? Uint32Array.from([0, vocab - 1, 3, 3, vocab, 0xffffffff, ...Array.from({ length: 31 }, () => rng.int(0, vocab))])
          : Uint32Array.from([4]);
        const scale = c ? Math.sqrt(d) : 1; // gemma scales embeddings by sqrt(d)
        const tt = gpu.upload(bytes, [vocab, d], type), ti = gpu.upload(ids, [ids.length], 'U32');
        const out = poisoned(gpu, [ids.length, d]);
        gpu.run((rec) => getRows(gpu, rec, tt, ti, out, { scale }));
        const got = await gpu.readF32(out);
        expectClose(got, getRowsRef(type, bytes, vocab, d, ids, scale), TOL[type] ?? FUSABLE, `getRows ${type} V=${vocab} D=${d} T=${ids.length}`);
        if (c) for (const t of [4, 5]) expect(got.subarray(t * d, (t + 1) * d).every((v) => v === 0)).toBe(true);
        for (const t of [tt, ti, out]) t.release();
      }
    });
  }

  it('refuses D not a multiple of 8 or of the block size, wrong dtypes and shapes', async () => {
    const gpu = await testGpu();
    const ids = gpu.tensor([3], 'U32');
    expect(() => gpu.run((rec) => getRows(gpu, rec, gpu.tensor([10, 12]), ids, gpu.tensor([3, 12])))).toThrow(/D = 12 must be a multiple of 8/);
    expect(() => gpu.run((rec) => getRows(gpu, rec, gpu.tensor([10, 288], 'Q4_K'), ids, gpu.tensor([3, 288])))).toThrow(/Q4_K block size 256/);
    expect(() => gpu.run((rec) => getRows(gpu, rec, gpu.tensor([10, 64], 'Q5_0'), ids, gpu.tensor([3, 64])))).toThrow(UnsupportedDtypeError);
    expect(() => gpu.run((rec) => getRows(gpu, rec, gpu.tensor([10, 64]), gpu.tensor([3]), gpu.tensor([3, 64])))).toThrow(/getRows \(ids\): dtype F32/);
    expect(() => gpu.run((rec) => getRows(gpu, rec, gpu.tensor([10, 64]), ids, gpu.tensor([4, 64])))).toThrow(/out has shape \[4, 64\], expected \[3, 64\]/);
    expect(() => gpu.run((rec) => getRows(gpu, rec, gpu.tensor([640]), ids, gpu.tensor([3, 64])))).toThrow(ShapeError);
  });
});
