import { describe, expect, it } from 'vitest';
import { mul, scale } from './mul.ts';
import { mulRef, scaleRef } from '../reference/mul.ts';
import { Rng } from '../testing/rng.ts';
import { expectClose } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';

// Exact: a single correctly rounded f32 multiply per element on both sides.
const EXACT = { atol: 0, rtol: 0 };
const SHAPES: [number, number][] = [[1, 1], [1, 3], [5, 65], [3, 255], [7, 1000], [2, 4097], [4, 4096], [40, 2]];

describe('mul', () => {
  it('matches x * w for a broadcast row and for a full-size w', async () => {
    const gpu = await testGpu();
    const rng = new Rng(51);
    for (const [rows, n] of SHAPES) {
      for (const full of [false, true]) {
        const x = rng.f32(rows * n, 3), w = rng.f32(full ? rows * n : n);
        const tx = gpu.upload(x, [rows, n]), tw = gpu.upload(w, full ? [rows, n] : [n]);
        const out = poisoned(gpu, [rows, n]);
        gpu.run((rec) => mul(gpu, rec, tx, tw, out));
        expectClose(await gpu.readF32(out), mulRef(x, w), EXACT, `mul ${rows}x${n}${full ? ' full' : ''}`);
        for (const t of [tx, tw, out]) t.release();
      }
    }
  });

  it('works in place', async () => {
    const gpu = await testGpu();
    const rng = new Rng(52);
    for (const n of [7, 64]) {
      const x = rng.f32(9 * n), w = rng.f32(n);
      const tx = gpu.upload(x, [9, n]), tw = gpu.upload(w, [n]);
      gpu.run((rec) => mul(gpu, rec, tx, tw, tx));
      expectClose(await gpu.readF32(tx), mulRef(x, w), EXACT, `mul in place ${n}`);
      tx.release(); tw.release();
    }
  });

  it('refuses a w that does not broadcast, non-F32 tensors, and w aliasing out', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor([4, 6]), out = gpu.tensor([4, 6]);
    expect(() => gpu.run((rec) => mul(gpu, rec, x, gpu.tensor([5]), out))).toThrow(/mul: w \(5 elements\) does not broadcast over x \(24\)/);
    expect(() => gpu.run((rec) => mul(gpu, rec, x, gpu.tensor([6], 'F16'), out))).toThrow(UnsupportedDtypeError);
    expect(() => gpu.run((rec) => mul(gpu, rec, x, gpu.tensor([6]), gpu.tensor([6, 4])))).toThrow(ShapeError);
    expect(() => gpu.run((rec) => mul(gpu, rec, x, out, out))).toThrow(/mul: out shares a GPU buffer with w/);
  });
});

describe('scale', () => {
  it('matches x * s on awkward shapes, out of place and in place', async () => {
    const gpu = await testGpu();
    const rng = new Rng(53);
    for (const [rows, n] of SHAPES) {
      const x = rng.f32(rows * n, 5);
      const s = Math.sqrt(n); // gemma's embedding scale is sqrt(d): not a float, so the float rounding of s shows
      const tx = gpu.upload(x, [rows, n]);
      const out = poisoned(gpu, [rows, n]);
      gpu.run((rec) => scale(gpu, rec, tx, s, out));
      expectClose(await gpu.readF32(out), scaleRef(x, s), EXACT, `scale ${rows}x${n}`);
      gpu.run((rec) => scale(gpu, rec, tx, -0.125, tx));
      expectClose(await gpu.readF32(tx), scaleRef(x, -0.125), EXACT, `scale in place ${rows}x${n}`);
      tx.release(); out.release();
    }
  });

  it('refuses a NaN scale, a Q4_0 input and a mismatched out', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor([2, 8]);
    expect(() => gpu.run((rec) => scale(gpu, rec, x, NaN, gpu.tensor([2, 8])))).toThrow(RangeError);
    expect(() => gpu.run((rec) => scale(gpu, rec, gpu.tensor([2, 32], 'Q4_0'), 2, gpu.tensor([2, 32])))).toThrow(/scale \(x\): dtype Q4_0/);
    expect(() => gpu.run((rec) => scale(gpu, rec, x, 2, gpu.tensor([16])))).toThrow(/scale: out has shape \[16\], expected \[2, 8\]/);
  });
});
