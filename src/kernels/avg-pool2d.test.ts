import { describe, expect, it } from 'vitest';
import { avgPool2d } from './avg-pool2d.ts';
import { avgPool2dRef } from '../reference/avg-pool2d.ts';
import { Rng } from '../testing/rng.ts';
import { expectClose } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';

describe('avgPool2d', () => {
  it('matches ggml pool_2d AVG on awkward grids, channel counts and kernel sizes, bit for bit', async () => {
    const gpu = await testGpu();
    const rng = new Rng(41);
    // [H, W, C, k]: gemma3's 64x64 -> 16x16 at a small width, identity k = 1 (tinygemma3), non-square grids,
    // odd channel counts, one output cell.
    const cases: [number, number, number, number][] = [[16, 16, 24, 4], [4, 4, 7, 1], [6, 9, 5, 3], [8, 2, 130, 2], [5, 5, 3, 5], [12, 8, 1, 4]];
    for (const [H, W, C, k] of cases) {
      const x = rng.f32(H * W * C, 3);
      const tx = gpu.upload(x, [H, W, C]);
      const out = poisoned(gpu, [H / k, W / k, C]);
      gpu.run((rec) => avgPool2d(gpu, rec, tx, out, k));
      expectClose(await gpu.readF32(out), avgPool2dRef(x, H, W, C, k), { atol: 0, rtol: 0 }, `avgPool2d ${H}x${W}x${C} k${k}`);
      tx.release(); out.release();
    }
  });

  it('averages: a constant grid stays constant, a ramp gives the window means', async () => {
    const gpu = await testGpu();
    const H = 4, W = 4, C = 1;
    const x = Float32Array.from({ length: 16 }, (_, i) => i);
    const tx = gpu.upload(x, [H, W, C]);
    const out = poisoned(gpu, [2, 2, 1]);
    gpu.run((rec) => avgPool2d(gpu, rec, tx, out, 2));
    expect(Array.from(await gpu.readF32(out))).toEqual([2.5, 4.5, 10.5, 12.5]);
    tx.release(); out.release();
  });

  it('refuses shapes that do not pool and non-F32 tensors', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor([6, 6, 4]);
    expect(() => gpu.run((rec) => avgPool2d(gpu, rec, x, gpu.tensor([1, 1, 4]), 4))).toThrow(/not divisible by the kernel size 4/);
    expect(() => gpu.run((rec) => avgPool2d(gpu, rec, x, gpu.tensor([3, 3, 5]), 2))).toThrow(ShapeError);
    expect(() => gpu.run((rec) => avgPool2d(gpu, rec, x, gpu.tensor([3, 3, 4]), 0))).toThrow(ShapeError);
    expect(() => gpu.run((rec) => avgPool2d(gpu, rec, gpu.tensor([36, 4]), gpu.tensor([9, 4]), 2))).toThrow(ShapeError);
    expect(() => gpu.run((rec) => avgPool2d(gpu, rec, gpu.tensor([2, 2, 32], 'Q8_0'), gpu.tensor([1, 1, 32]), 2))).toThrow(UnsupportedDtypeError);
    expect(() => gpu.run((rec) => avgPool2d(gpu, rec, x, x, 1))).toThrow(ShapeError);
  });
});
