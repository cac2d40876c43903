// getRows into an F16 out (shader-f16) on lavapipe.
import { afterAll, describe, it } from 'vitest';
import { getRows } from './get-rows.ts';
import { getRowsRef } from '../reference/get-rows.ts';
import { quantize } from '../formats/quantize.ts';
import { Rng } from '../testing/rng.ts';
import { testGpu } from '../testing/gpu.ts';
import { expectWithin, poisonedF16, readF16, reportF16Margins, roundedOnceBound } from '../testing/f16.ts';

afterAll(() => reportF16Margins('getRows'));

// Rows decode in f32 exactly as the F32 path does (exact for these formats, get-rows.test.ts; Q4_K's
// d * sc * q - dmin * m may fuse into an fma: 2.5e-7 relative, 5e-7 absolute), times the scale, then one
// f16 rounding: one f16 ulp (F16_CONVERT).
// (Two formats: the f16 store is the variant's only change, and a K-quant pipeline takes lavapipe seconds.)
const TOL: Record<string, { atol: number; rtol: number }> = { F16: { atol: 0, rtol: 0 }, Q4_K: { atol: 5e-7, rtol: 2.5e-7 } };

describe('getRows, F16 out', () => {
  it('gathers F16 and Q4_K rows (repeated ids, ids past the end give zero rows), with a scale', async () => {
    const gpu = await testGpu();
    const rng = new Rng(1651);
    for (const [type, vocab, d, scaled] of [['F16', 5, 8, false], ['F16', 37, 160, true], ['Q4_K', 9, 256, true]] as const) {
      const bytes = quantize(type, rng.f32(vocab * d, 2));
      const ids = Uint32Array.from([0, vocab - 1, 3, 3, vocab, 0xffffffff, ...Array.from({ length: 11 }, () => rng.int(0, vocab))]);
      const scale = scaled ? Math.sqrt(d) : 1;
      const tt = gpu.upload(bytes, [vocab, d], type), ti = gpu.upload(ids, [ids.length], 'U32');
      const out = poisonedF16(gpu, [ids.length, d]);
      gpu.run((rec) => getRows(gpu, rec, tt, ti, out, { scale }));
      const ref = getRowsRef(type, bytes, vocab, d, ids, scale);
      expectWithin(await readF16(gpu, out), ref, roundedOnceBound(ref, TOL[type]), `getRows ${type} ${vocab}x${d}`);
      for (const t of [tt, ti, out]) t.release();
    }
  });
});
