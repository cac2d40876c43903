import { describe, expect, it } from 'vitest';
import { writeKv } from './kv-write.ts';
import { writeKvRef } from '../reference/kv-write.ts';
import { Rng } from '../testing/rng.ts';
import { testGpu } from '../testing/gpu.ts';
import { f32ToF16Bits } from '../formats/f16.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';

describe('writeKv', () => {
  it('copies F32 rows into the cache at a token offset and leaves the other rows alone', async () => {
    const gpu = await testGpu();
    const rng = new Rng(21);
    const [capacity, nKv, D] = [10, 3, 8];
    const cache0 = rng.f32(capacity * nKv * D);
    const cache = gpu.upload(cache0, [capacity, nKv, D]);
    for (const [T, offset] of [[3, 4], [1, 9], [1, 0]]) {
      const src = rng.f32(T * nKv * D);
      const ts = gpu.upload(src, [T, nKv, D]);
      const before = await gpu.readF32(cache);
      gpu.run((rec) => writeKv(gpu, rec, ts, cache, { offsetTokens: offset }));
      // Exact: a plain copy.
      expect(Array.from(await gpu.readF32(cache))).toEqual(Array.from(writeKvRef(before, src, nKv * D, offset)));
      ts.release();
    }
    cache.release();
  });

  it('packs rows into an F16 cache with round-to-nearest-even, bit for bit', async () => {
    const gpu = await testGpu();
    const rng = new Rng(22);
    const [capacity, nKv, D] = [7, 3, 12];
    const cache0 = Uint16Array.from(rng.f32(capacity * nKv * D), (x) => f32ToF16Bits(x));
    const cache = gpu.upload(cache0, [capacity, nKv, D], 'F16');
    // Ties at both parities (1 + 2^-11, 1 + 3 * 2^-11), subnormals and their ties, the smallest
    // subnormal's half, overflow to Inf (65520), the largest finite (65519), signed zero, Inf, NaN.
    const special = [1 + 2 ** -11, 1 + 3 * 2 ** -11, -(1 + 2 ** -11), 2 ** -24, 3 * 2 ** -25, 2 ** -25, 2 ** -26, 1e-9, -1e-7,
      6.1e-5, 65519, 65520, 70000, -1e6, -0, 0, Infinity, -Infinity, NaN, 1 / 3, -2 / 3, 1e-3, 3.14159, 2049];
    for (const [T, offset] of [[2, 5], [1, 0]]) {
      const src = rng.f32(T * nKv * D, 10);
      src.set(special.slice(0, src.length));
      const ts = gpu.upload(src, [T, nKv, D]);
      const before = new Uint16Array((await gpu.readBytes(cache)).buffer);
      gpu.run((rec) => writeKv(gpu, rec, ts, cache, { offsetTokens: offset }));
      const got = new Uint16Array((await gpu.readBytes(cache)).buffer);
      const want = writeKvRef(before, src, nKv * D, offset);
      const bad = Array.from(got).flatMap((h, i) => (h === want[i] ? [] : [`[${i}] got 0x${h.toString(16)} want 0x${want[i].toString(16)}`]));
      expect(bad).toEqual([]);
      ts.release();
    }
    cache.release();
  });

  it('refuses rows that do not fit and dtypes it cannot write', async () => {
    const gpu = await testGpu();
    const src = gpu.tensor([3, 2, 8]);
    const cache = gpu.tensor([10, 2, 8]);
    const run = (s: typeof src, c: typeof cache, offsetTokens: number) => () => gpu.run((rec) => writeKv(gpu, rec, s, c, { offsetTokens }));
    expect(run(src, cache, 8)).toThrow(/writeKv: tokens 8..10 do not fit a cache of capacity 10/);
    expect(run(src, cache, -1)).toThrow(ShapeError);
    expect(run(src, gpu.tensor([10, 4, 8]), 0)).toThrow(/writeKv: src rows \[2, 8\] do not match cache rows \[4, 8\]/);
    expect(run(gpu.tensor([3, 2, 6]), gpu.tensor([10, 2, 6], 'F16'), 0)).toThrow(/F16 cache needs headDim a multiple of 4, got 6/);
    expect(run(gpu.tensor([3, 2, 8], 'F16'), cache, 0)).toThrow(UnsupportedDtypeError);
    expect(run(src, gpu.tensor([10, 2, 32], 'Q8_0'), 0)).toThrow(UnsupportedDtypeError);
    await gpu.sync();
  });
});
