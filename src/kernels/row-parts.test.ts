// Vocabulary tables over the binding limit are held in row parts: the embedding lookup and the one-row
// output matmul over parts must equal the same kernels over the whole table (and the references), and
// the parts' bookkeeping errors must be typed.
import { describe, expect, it } from 'vitest';
import { getRows, getRowsFromParts } from './get-rows.ts';
import { matmul, matmulRowParts, type WeightPart } from './matmul.ts';
import { getRowsRef } from '../reference/get-rows.ts';
import { quantize } from '../formats/quantize.ts';
import { GGML_BLOCK, type GgmlTypeName } from '../formats/ggml-types.ts';
import { Rng } from '../testing/rng.ts';
import { expectClose } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';

/** Upload rows [r0, r1) of a quantized [V, D] table as a part of its own. */
function part(gpu: Gpu, bytes: Uint8Array, type: GgmlTypeName, d: number, r0: number, r1: number): WeightPart {
  const b = GGML_BLOCK[type]!;
  const rowBytes = (d / b.blockSize) * b.blockBytes;
  return { row0: r0, t: gpu.upload(bytes.subarray(r0 * rowBytes, r1 * rowBytes), [r1 - r0, d], type) };
}

describe('tables in row parts', () => {
  for (const type of ['F32', 'Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'] as GgmlTypeName[]) {
    it(`${type}: getRows and the one-row matmul over 3 uneven parts equal the whole table`, async () => {
      const gpu = await testGpu();
      const rng = new Rng(500 + type.length);
      const d = type.endsWith('_K') ? 256 : 96;
      const V = 64 * 5 + 23; // parts of 128, 128, 87 rows: slices of the output at 512-byte steps
      const bytes = quantize(type, rng.f32(V * d, 1.5));
      const whole = gpu.upload(bytes, [V, d], type);
      const parts = [part(gpu, bytes, type, d, 0, 128), part(gpu, bytes, type, d, 128, 256), part(gpu, bytes, type, d, 256, V)];

      const ids = Uint32Array.from([0, 127, 128, 255, 256, V - 1, V, 0xffffffff, ...Array.from({ length: 20 }, () => rng.int(0, V))]);
      const ti = gpu.upload(ids, [ids.length], 'U32');
      const a = poisoned(gpu, [ids.length, d]), b = poisoned(gpu, [ids.length, d]);
      gpu.run((rec) => {
        getRows(gpu, rec, whole, ti, a, { scale: 0.5 });
        getRowsFromParts(gpu, rec, parts, ti, b, { scale: 0.5 });
      });
      const ga = await gpu.readF32(a), gb = await gpu.readF32(b);
      expect(gb).toEqual(ga);
      expectClose(gb, getRowsRef(type, bytes, V, d, ids, 0.5), { atol: 5e-7, rtol: 2.5e-7 }, `getRows parts ${type}`);

      const x = gpu.upload(rng.f32(d, 1), [1, d]);
      const bias = gpu.upload(rng.f32(V, 1), [V]);
      for (const opts of [{}, { bias }]) {
        const ya = poisoned(gpu, [1, V]), yb = poisoned(gpu, [1, V]);
        gpu.run((rec) => {
          matmul(gpu, rec, x, whole, ya, opts);
          matmulRowParts(gpu, rec, x, parts, yb, opts);
        });
        expect(await gpu.readF32(yb), `${type} ${opts === bias ? 'bias' : ''}`).toEqual(await gpu.readF32(ya));
      }
      for (const t of [whole, ti, a, b, x, bias, ...parts.map((p) => p.t)]) t.release();
    });
  }

  it('refuses parts that do not continue each other, misaligned slices and several rows of x', async () => {
    const gpu = await testGpu();
    const d = 32, V = 200;
    const bytes = quantize('Q8_0', new Rng(9).f32(V * d, 1));
    const p0 = part(gpu, bytes, 'Q8_0', d, 0, 64), p1 = part(gpu, bytes, 'Q8_0', d, 64, 200), odd = part(gpu, bytes, 'Q8_0', d, 0, 50);
    const x1 = gpu.upload(new Float32Array(d), [1, d]), x2 = gpu.upload(new Float32Array(2 * d), [2, d]);
    const y1 = gpu.tensor([1, V]), y2 = gpu.tensor([2, V]);
    const ids = gpu.upload(Uint32Array.from([1]), [1], 'U32');
    const emb = gpu.tensor([1, d]);
    gpu.run((rec) => {
      expect(() => matmulRowParts(gpu, rec, x1, [p1, p0], y1)).toThrow(ShapeError);
      expect(() => matmulRowParts(gpu, rec, x2, [p0, p1], y2)).toThrow(/one row of x, got 2 rows/);
      // A first part of 50 rows puts the second slice at byte 200: not a storage offset.
      expect(() => matmulRowParts(gpu, rec, x1, [odd, { row0: 50, t: p1.t }], gpu.tensor([1, 186]))).toThrow(/not a multiple of/);
      expect(() => getRowsFromParts(gpu, rec, [p0, { row0: 65, t: p1.t }], ids, emb)).toThrow(/does not continue/);
      expect(() => getRowsFromParts(gpu, rec, [], ids, emb)).toThrow(ShapeError);
    });
    for (const t of [p0.t, p1.t, odd.t, x1, x2, y1, y2, ids, emb]) t.release();
  });
});
