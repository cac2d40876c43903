// rope with F16 x and out (shader-f16) on lavapipe: in place, and into an F16 cache slot.
import { afterAll, describe, expect, it } from 'vitest';
import { rope } from './rope.ts';
import { ropeRef, type RopeRefOptions } from '../reference/rope.ts';
import { Rng } from '../testing/rng.ts';
import { testGpu } from '../testing/gpu.ts';
import { expectWithin, poisonedF16, readF16, reportF16Margins, roundedOnceBound, uploadF16 } from '../testing/f16.ts';
import { UnsupportedDtypeError } from '../gpu/errors.ts';

afterAll(() => reportF16Margins('rope'));

// The angles and the rotation are the F32 path's (within 1.5e-5 absolute of the double reference for
// |x| < ~5, rope.test.ts), applied to the f16 inputs; each output is then rounded to f16 once.
const TOL = { atol: 1.5e-5, rtol: 0 };
// Positions stay below 100 here. On lavapipe the rope kernel's double-float angle (rope.wgsl's split /
// twoSum error-free transforms) is folded away by Mesa's NIR float optimizations (Dawn emits no
// NoContraction/exact decorations), so angles are plain-f32 accurate: the rotated values are off by
// ~2e-7 per unit of position (measured 1.2e-5 at 100, 7e-4 at 4095, 2.5e-2 at 131071). The F32 rope tests fail there the same way; that is the rope kernel's issue, not its
// F16 variant's, and small positions keep this test about the F16 storage path.
const yarn4k = { extFactor: 1, attnFactor: 1, betaFast: 32, betaSlow: 1, nCtxOrig: 4096 };

describe('rope, F16 x and out', () => {
  it('rotates in place (both layouts, partial rotary keeps the pass-through dims)', async () => {
    const gpu = await testGpu();
    const rng = new Rng(1661);
    for (const [mode, T, nHead, headDim, nDims] of [['norm', 4, 3, 128, 128], ['neox', 5, 5, 80, 32], ['neox', 1, 7, 64, 64]] as const) {
      const pos = Uint32Array.from({ length: T }, (_, t) => [64, 0, 99, 7, 1][t]);
      const x = uploadF16(gpu, rng.f32(T * nHead * headDim), [T, nHead, headDim], 'x');
      const tp = gpu.upload(pos, [T], 'U32');
      const opts = { mode, nDims, freqBase: mode === 'norm' ? 10000 : 1e6 };
      gpu.run((rec) => rope(gpu, rec, x.t, tp, x.t, opts));
      const ref = ropeRef(x.v, pos, nHead, headDim, opts);
      expectWithin(await readF16(gpu, x.t), ref, roundedOnceBound(ref, TOL), `rope ${mode} in place T${T} h${nHead} d${headDim} n${nDims}`);
      x.t.release();
      tp.release();
    }
  });

  it('writes a slot of an F16 cache from an F16 x, with freq factors and YaRN, odd dims', async () => {
    const gpu = await testGpu();
    const rng = new Rng(1662);
    // nDims 6 and headDim 10: element-wise stores, no word-pair constraint as on the packed path.
    for (const [mode, headDim, nDims, ffOn] of [['neox', 80, 32, true], ['norm', 10, 6, false]] as const) {
      const [T, nHead, ctx, slot] = [3, 5, 9, 4];
      const ref: RopeRefOptions = { mode, nDims, freqBase: 10000, freqScale: 0.5, yarn: yarn4k };
      const ff = ffOn ? rng.f32(nDims / 2).map((v) => 1 + Math.abs(v)) : undefined;
      const pos = Uint32Array.from([5, 64, 31]);
      const x = uploadF16(gpu, rng.f32(T * nHead * headDim), [T, nHead, headDim], 'x');
      const tp = gpu.upload(pos, [T], 'U32');
      const tff = ff ? gpu.upload(ff, [ff.length]) : undefined;
      const cache = poisonedF16(gpu, [ctx, nHead, headDim], 'cache');
      const row = nHead * headDim;
      gpu.run((rec) => rope(gpu, rec, x.t, tp, cache, { ...ref, freqFactors: tff, outOffset: slot * row }));
      const all = await readF16(gpu, cache);
      const untouched = [...all.subarray(0, slot * row), ...all.subarray((slot + T) * row)];
      expect(untouched.every((v) => Number.isNaN(v)), 'rows outside the slot keep their poison').toBe(true);
      const want = ropeRef(x.v, pos, nHead, headDim, { ...ref, freqFactors: ff });
      expectWithin(all.subarray(slot * row, (slot + T) * row), want, roundedOnceBound(want, TOL), `rope ${mode} cache slot d${headDim} n${nDims}`);
      for (const t of [x.t, tp, tff, cache]) t?.release();
    }
  });

  it('refuses an F32 out for an F16 x', async () => {
    const gpu = await testGpu();
    const call = () => gpu.run((rec) => rope(gpu, rec, gpu.tensor([2, 3, 8], 'F16'), gpu.tensor([2], 'U32'), gpu.tensor([2, 3, 8]), { mode: 'norm', nDims: 8, freqBase: 10000 }));
    expect(call).toThrow(UnsupportedDtypeError);
    expect(call).toThrow(/rope \(out \(x is F16\)\): dtype F32 is not supported \(supported: F16\)/);
  });
});
