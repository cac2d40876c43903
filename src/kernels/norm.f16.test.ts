// rmsnorm and layernorm with F16 x/out (shader-f16) on lavapipe: F32 weights, f32 sums.
import { afterAll, describe, it } from 'vitest';
import { layernorm, rmsnorm } from './norm.ts';
import { layerNormRef, rmsNormRef } from '../reference/norm.ts';
import { Rng } from '../testing/rng.ts';
import { testGpu } from '../testing/gpu.ts';
import { expectWithin, poisonedF16, readF16, reportF16Margins, roundedOnceBound, uploadF16 } from '../testing/f16.ts';

afterAll(() => reportF16Margins('norm'));

// Sum of squares, scale and products are the F32 path's f32 arithmetic on the f16 inputs (its tolerance,
// norm.test.ts: 1e-6 relative; layernorm 2e-6 absolute for the mean's cancellation), then one f16
// rounding of each output, one f16 ulp (F16_CONVERT). The f32 accumulation keeps a 4096-wide row's sum to ~2^-24 relative
// each step; an f16 sum of squares would have lost 2^-11 per step and overflowed past 256^2 per element.
const RMS = { atol: 0, rtol: 1e-6 };
const LN = { atol: 2e-6, rtol: 1e-6 };
// lavapipe compiles each pipeline for seconds: the cases share four (rmsnorm scalar, vec4, vec4 in
// place; layernorm vec4). The scalar/vec4 split and in place are the F32 tests' subject too.

describe('norms, F16', () => {
  it('rmsnorm on awkward rows, with and without weight, 1 + w, in place', async () => {
    const gpu = await testGpu();
    const rng = new Rng(1641);
    for (const [rows, n, mode, inPlace] of [
      [1, 1, 'w', false], [3, 7, 'none', false], [5, 130, 'addOne', false], [2, 1000, 'addOne', false], [4, 4096, 'w', true], [1, 64, 'none', true],
    ] as const) {
      // Values up to ~300: x^2 would overflow f16 (65504) past 256, the f32 sum must not care.
      const x = uploadF16(gpu, rng.f32(rows * n, 100), [rows, n], 'x');
      const w = rng.f32(n);
      const tw = mode === 'none' ? null : gpu.upload(w, [n]);
      const out = inPlace ? x.t : poisonedF16(gpu, [rows, n]);
      gpu.run((rec) => rmsnorm(gpu, rec, x.t, tw, out, { eps: 1e-6, addOne: mode === 'addOne' }));
      const ref = rmsNormRef(x.v, n, mode === 'none' ? null : w, 1e-6, mode === 'addOne');
      expectWithin(await readF16(gpu, out), ref, roundedOnceBound(ref, RMS), `rmsnorm ${rows}x${n} ${mode}${inPlace ? ' in place' : ''}`);
      for (const t of new Set([x.t, tw, out])) t?.release();
    }
  });

  it('layernorm with weight and bias', async () => {
    const gpu = await testGpu();
    const rng = new Rng(1642);
    for (const [rows, n] of [[1, 4], [3, 64], [2, 1000]]) {
      const x = uploadF16(gpu, rng.f32(rows * n, 3).map((v) => v + 5), [rows, n], 'x');
      const w = rng.f32(n), b = rng.f32(n);
      const tw = gpu.upload(w, [n]), tb = gpu.upload(b, [n]);
      const out = poisonedF16(gpu, [rows, n]);
      gpu.run((rec) => layernorm(gpu, rec, x.t, tw, tb, out, { eps: 1e-5 }));
      const ref = layerNormRef(x.v, n, w, b, 1e-5);
      expectWithin(await readF16(gpu, out), ref, roundedOnceBound(ref, LN), `layernorm ${rows}x${n}`);
      for (const t of [x.t, tw, tb, out]) t.release();
    }
  });
});
