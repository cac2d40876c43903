import { describe, expect, it } from 'vitest';
import { CHUNK, SINGLE_MAX, softmax } from './softmax.ts';
import { softmaxRef } from '../reference/softmax.ts';
import { Rng } from '../testing/rng.ts';
import { expectClose } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';

// Tolerance: relative, since outputs span many orders of magnitude. Each output is exp(v - max) / sum; the
// GPU's exp is not correctly rounded (WGSL allows 3 + 2|x| ulp; measured far less here), its f32 sum carries
// ~log2(n) roundings where ggml sums in double, and merging partial sums rescales them by exp(m_i - max).
// Measured <= 3.2e-6 relative with logits ~N(0, 36) up to 100k wide; allowed 1e-5. Outputs below 1e-30 are
// compared absolutely (the f32 denormal range, where relative error is meaningless).
const TOL = { atol: 1e-30, rtol: 1e-5 };

describe('softmax', () => {
  it('matches ggml_soft_max on awkward shapes, one-workgroup rows and split (vocab-wide) rows', async () => {
    const gpu = await testGpu();
    const rng = new Rng(61);
    // widths around the single/split switch, vec4 and scalar on both paths, a vocabulary-sized odd row
    const shapes: [number, number, number][] = [[1, 1, 1], [3, 3, 0.125], [5, 65, 1], [1, 255, 0.125], [7, 1000, 1],
      [40, 12, 0.125], [4, SINGLE_MAX, 1], [2, SINGLE_MAX + 1, 0.125], [3, 2 * CHUNK + 4, 1], [1, 100003, 0.125], [2, 32000, 1]];
    for (const [rows, n, scale] of shapes) {
      const x = rng.f32(rows * n, 6); // logits ~N(0, 36): outputs span ~1e-20 .. 1
      const tx = gpu.upload(x, [rows, n]);
      const out = poisoned(gpu, [rows, n]);
      gpu.run((rec) => softmax(gpu, rec, tx, out, { scale }));
      expectClose(await gpu.readF32(out), softmaxRef(x, n, scale), TOL, `softmax ${rows}x${n} scale ${scale}`);
      tx.release(); out.release();
    }
  });

  it('subtracts the max: huge logits do not overflow, -inf (masked) entries give exactly 0', async () => {
    const gpu = await testGpu();
    for (const n of [7, 5000]) { // one-workgroup path and split path
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) x[i] = 1000 + (i % 13) * 0.5; // exp(1000) overflows f32
      x[3] = -Infinity;
      const tx = gpu.upload(x, [1, n]);
      const out = poisoned(gpu, [1, n]);
      gpu.run((rec) => softmax(gpu, rec, tx, out));
      const got = await gpu.readF32(out);
      expectClose(got, softmaxRef(x, n), TOL, `softmax large logits ${n}`);
      expect(got[3]).toBe(0);
      let sum = 0;
      for (const v of got) sum += v;
      expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
      tx.release(); out.release();
    }
  });

  it('works in place (split path: its second dispatch reads and overwrites x)', async () => {
    const gpu = await testGpu();
    const rng = new Rng(62);
    for (const [rows, n] of [[2, 9001]] as const) {
      const x = rng.f32(rows * n, 3);
      const tx = gpu.upload(x, [rows, n]);
      gpu.run((rec) => softmax(gpu, rec, tx, tx, { scale: 0.5 }));
      expectClose(await gpu.readF32(tx), softmaxRef(x, n, 0.5), TOL, `softmax in place ${rows}x${n}`);
      tx.release();
    }
  });

  it('the split path allocates nothing in steady state', async () => {
    const gpu = await testGpu();
    const x = gpu.upload(new Float32Array(10000).fill(0.5), [1, 10000]);
    const out = gpu.tensor([1, 10000]);
    gpu.run((rec) => softmax(gpu, rec, x, out));
    await gpu.readF32(out);
    const before = { ...gpu.counters, ...gpu.pool.stats() };
    for (let i = 0; i < 5; i++) gpu.run((rec) => softmax(gpu, rec, x, out));
    const got = await gpu.readF32(out);
    const after = { ...gpu.counters, ...gpu.pool.stats() };
    expect(after.created).toBe(before.created);
    expect(after.bindGroupsCreated).toBe(before.bindGroupsCreated);
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expectClose(got, new Float32Array(10000).fill(1e-4), { atol: 0, rtol: 1e-5 }, 'uniform row');
    x.release(); out.release();
  });

  it('refuses mismatched out, non-F32 and a non-finite scale', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor([2, 10]);
    expect(() => gpu.run((rec) => softmax(gpu, rec, x, gpu.tensor([2, 11])))).toThrow(/softmax: out has shape \[2, 11\], expected \[2, 10\]/);
    expect(() => gpu.run((rec) => softmax(gpu, rec, x, gpu.tensor([2, 10], 'F16')))).toThrow(UnsupportedDtypeError);
    expect(() => gpu.run((rec) => softmax(gpu, rec, x, gpu.tensor([20])))).toThrow(ShapeError);
    expect(() => gpu.run((rec) => softmax(gpu, rec, x, gpu.tensor([2, 10]), { scale: Infinity }))).toThrow(RangeError);
  });
});
