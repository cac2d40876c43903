// mul and scale with F16 x/out (shader-f16) on lavapipe; w F32 (norm weights) or F16.
import { afterAll, describe, expect, it } from 'vitest';
import { mul, scale } from './mul.ts';
import { mulRef, scaleRef } from '../reference/mul.ts';
import { Rng } from '../testing/rng.ts';
import { testGpu } from '../testing/gpu.ts';
import { expectWithin, poisonedF16, readF16, reportF16Margins, roundedOnceBound, uploadF16 } from '../testing/f16.ts';
import { UnsupportedDtypeError } from '../gpu/errors.ts';

afterAll(() => reportF16Margins('mul'));

// The product is formed in f32 (exact for f16 x f16, one f32 rounding for f16 x f32) and rounded to f16
// once: within one f16 ulp (F16_CONVERT) plus 2^-24 relative for the f32 product.
const TOL = { atol: 0, rtol: 2 ** -24 };

describe('mul and scale, F16', () => {
  it('mul: F32 and F16 w, broadcast rows and full size, vec4 and scalar, in place', async () => {
    const gpu = await testGpu();
    const rng = new Rng(1621);
    for (const [rows, cols, wDtype, full, inPlace] of [
      [1, 1, 'F32', false, false], [3, 7, 'F16', true, false], [5, 1000, 'F32', false, true], [2, 4097, 'F16', false, false], [4, 64, 'F16', true, true],
    ] as const) {
      const x = uploadF16(gpu, rng.f32(rows * cols, 8), [rows, cols], 'x');
      const wn = full ? rows * cols : cols;
      const wShape = full ? [rows, cols] : [cols];
      let w: Float32Array, tw;
      if (wDtype === 'F16') ({ t: tw, v: w } = uploadF16(gpu, rng.f32(wn), wShape, 'w'));
      else { w = rng.f32(wn); tw = gpu.upload(w, wShape); }
      const out = inPlace ? x.t : poisonedF16(gpu, [rows, cols]);
      gpu.run((rec) => mul(gpu, rec, x.t, tw, out));
      const ref = mulRef(x.v, w);
      expectWithin(await readF16(gpu, out), ref, roundedOnceBound(ref, TOL), `mul ${rows}x${cols} w ${wDtype}${full ? ' full' : ''}${inPlace ? ' in place' : ''}`);
      for (const t of new Set([x.t, tw, out])) t.release();
    }
  });

  it('scale: vec4 and scalar, in place', async () => {
    const gpu = await testGpu();
    const rng = new Rng(1622);
    for (const [n, s, inPlace] of [[1, 0.125, false], [1001, Math.sqrt(2048), false], [4096, -1 / 3, true]] as const) {
      const x = uploadF16(gpu, rng.f32(n), [n], 'x');
      const out = inPlace ? x.t : poisonedF16(gpu, [n]);
      gpu.run((rec) => scale(gpu, rec, x.t, s, out));
      const ref = scaleRef(x.v, s);
      expectWithin(await readF16(gpu, out), ref, roundedOnceBound(ref, TOL), `scale n=${n} s=${s}${inPlace ? ' in place' : ''}`);
      for (const t of new Set([x.t, out])) t.release();
    }
  });

  it('refuses an F16 w for an F32 x, and an F32 out for an F16 x', async () => {
    const gpu = await testGpu();
    const run = (fn: Parameters<typeof gpu.run>[0]) => () => gpu.run(fn);
    expect(run((rec) => mul(gpu, rec, gpu.tensor([4, 6]), gpu.tensor([6], 'F16'), gpu.tensor([4, 6])))).toThrow(/mul \(w\): dtype F16 is not supported \(supported: F32\)/);
    expect(run((rec) => scale(gpu, rec, gpu.tensor([4, 6], 'F16'), 2, gpu.tensor([4, 6])))).toThrow(UnsupportedDtypeError);
  });
});
