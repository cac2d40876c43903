import { describe, expect, it } from 'vitest';
import { grn } from './grn.ts';
import { grnRef } from '../reference/grn.ts';
import { Rng } from '../testing/rng.ts';
import { expectClose } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';

// The norms are f32 sums of T squares (chunks of 256 rows, then across chunks) against double in the
// reference: relative error ~1e-7 in G and its mean, so ~2e-7 in N; y = x * (1 + gamma N) + beta adds a
// few roundings. 1e-5 absolute + 1e-5 relative leaves room and still fails on a wrong axis (which
// changes N by O(1)) or a missed chunk.
const TOL = { atol: 1e-5, rtol: 1e-5 };

describe('grn', () => {
  // [T, C]: T spans one partial chunk, exactly one, several plus a ragged one; C spans a partial
  // 64-channel workgroup, several, and one wider than the 256-thread final pass.
  const SHAPES: [number, number][] = [[1, 1], [7, 5], [256, 64], [600, 70], [1030, 300], [64, 1408]];

  it('matches ConvNeXt V2 GRN on awkward shapes, out of place and in place', async () => {
    const gpu = await testGpu();
    const rng = new Rng(51);
    for (const [si, [T, C]] of SHAPES.entries()) {
      const x = rng.f32(T * C, 1.5);
      const gamma = rng.f32(C), beta = rng.f32(C);
      const tx = gpu.upload(x, [T, C]), tg = gpu.upload(gamma, [C]), tb = gpu.upload(beta, [C]);
      const exp = grnRef(x, C, gamma, beta);
      if (si % 2 === 0) {
        const out = poisoned(gpu, [T, C]);
        gpu.run((rec) => grn(gpu, rec, tx, tg, tb, out));
        expectClose(await gpu.readF32(out), exp, TOL, `grn ${T}x${C}`);
        out.release();
      } else {
        gpu.run((rec) => grn(gpu, rec, tx, tg, tb, tx));
        expectClose(await gpu.readF32(tx), exp, TOL, `grn in place ${T}x${C}`);
      }
      for (const t of [tx, tg, tb]) t.release();
    }
  });

  it('normalizes by the channel mean of the spatial norms: a channel twice as strong gets twice the gain', async () => {
    const gpu = await testGpu();
    // two channels, four pixels: column norms 1 and 2, mean 1.5, so N = [2/3, 4/3] (up to eps)
    const x = new Float32Array([0.5, 1, 0.5, 1, 0.5, 1, 0.5, 1]);
    const tx = gpu.upload(x, [4, 2]), tg = gpu.upload(new Float32Array([1, 1]), [2]), tb = gpu.upload(new Float32Array([0, 0]), [2]);
    const out = poisoned(gpu, [4, 2]);
    gpu.run((rec) => grn(gpu, rec, tx, tg, tb, out));
    const got = await gpu.readF32(out);
    expect(got[0]).toBeCloseTo(0.5 * (1 + 2 / 3), 5);
    expect(got[1]).toBeCloseTo(1 * (1 + 4 / 3), 5);
  });

  it('refuses gamma of the wrong length', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor([4, 6]);
    expect(() => gpu.run((rec) => grn(gpu, rec, x, gpu.tensor([5]), gpu.tensor([6]), gpu.tensor([4, 6])))).toThrow(/grn: gamma has 5 elements, expected 6/);
  });
});
