import { describe, expect, it } from 'vitest';
import { conv2d, conv2dOutSize } from './conv2d.ts';
import { dwconv2d } from './dwconv2d.ts';
import { conv2dRef, dwconv2dRef } from '../reference/conv2d.ts';
import { f16ArrayToF32, f32ArrayToF16 } from '../formats/f16.ts';
import { Rng } from '../testing/rng.ts';
import { expectClose } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';

// Tolerances. The GPU sums K = Cin * KH * KW products in f32 (8 at a time, then across steps), the
// reference in double. Inputs and weights are N(0, 1), so outputs are ~sqrt(K) in size and the error
// grows with them: measured max abs 3.8e-6 at K = 48, 1.9e-5 at K = 396, 1.2e-4 at K = 1584. Allowed
// 8e-6 * sqrt(K) (3.2e-4 at K = 1584) plus 1e-5 relative; a wrong tap, stride or layout is off by O(1).
const tolFor = (K: number) => ({ atol: 8e-6 * Math.sqrt(K), rtol: 1e-5 });

/** Random weights, and the values the kernel will see (rounded to f16 for F16 weights). */
function weights(rng: Rng, n: number, dtype: 'F32' | 'F16'): { bytes: Uint8Array; values: Float32Array } {
  const w = rng.f32(n);
  if (dtype === 'F32') return { bytes: new Uint8Array(w.buffer), values: w };
  const h = f32ArrayToF16(w);
  return { bytes: new Uint8Array(h.buffer), values: f16ArrayToF32(h) };
}

describe('conv2d', () => {
  // [layout, Cin, H, W, Cout, K, stride, padding]
  const CASES: ['chw' | 'hwc', number, number, number, number, number, number, number][] = [
    ['chw', 3, 32, 36, 70, 4, 4, 0],   // the stem: 4 x 4 / 4 on an image, Cout past one 64-wide tile
    ['chw', 3, 19, 17, 5, 4, 4, 0],    // ragged: the last row and column of the image are dropped
    ['hwc', 12, 8, 10, 33, 2, 2, 0],   // downsampling 2 x 2 / 2 on channels-last activations
    ['hwc', 99, 6, 6, 130, 2, 2, 0],   // K = 396, Cout over two tiles, 9 output pixels
    ['hwc', 3, 9, 11, 7, 3, 2, 1],     // a padded 3 x 3 / 2: K = 27 (odd F16 rows), the edges see zeros
    ['chw', 5, 7, 7, 9, 5, 1, 2],      // stride 1, padding 2
    ['hwc', 176, 9, 9, 66, 3, 3, 0],   // K = 1584, M = 9
  ];

  for (const dtype of ['F32', 'F16'] as const) {
    it(`matches the reference on awkward shapes with ${dtype} weights, with and without bias`, async () => {
      const gpu = await testGpu();
      const rng = new Rng(dtype === 'F32' ? 31 : 32);
      for (const [ci, [layout, Cin, H, W, Cout, K, stride, padding]] of CASES.entries()) {
        const x = rng.f32(Cin * H * W);
        const w = weights(rng, Cout * Cin * K * K, dtype);
        const b = rng.f32(Cout);
        const [OH, OW] = conv2dOutSize(H, W, K, K, stride, padding);
        const tx = gpu.upload(x, layout === 'chw' ? [Cin, H, W] : [H, W, Cin]);
        const tw = gpu.upload(w.bytes, [Cout, Cin, K, K], dtype);
        const tb = gpu.upload(b, [Cout]);
        const withBias = ci % 2 === 0;
        const out = poisoned(gpu, [OH, OW, Cout]);
        gpu.run((rec) => conv2d(gpu, rec, tx, tw, withBias ? tb : null, out, { stride, padding, layout }));
        const exp = conv2dRef(x, { H, W, Cin, layout }, w.values, { Cout, KH: K, KW: K }, withBias ? b : null, stride, padding);
        expectClose(await gpu.readF32(out), exp, tolFor(Cin * K * K), `conv2d ${layout} ${Cin}x${H}x${W} -> ${Cout} k${K}/s${stride}/p${padding} ${dtype}`);
        for (const t of [tx, tw, tb, out]) t.release();
      }
    });
  }

  it('refuses mismatched channels, a wrong out shape, quantized weights and aliasing with typed errors', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor([8, 8, 4]);
    const w = gpu.tensor([6, 4, 2, 2]);
    expect(() => gpu.run((rec) => conv2d(gpu, rec, x, gpu.tensor([6, 5, 2, 2]), null, gpu.tensor([4, 4, 6]), { stride: 2 }))).toThrow(/x has 4 channels \(hwc\), w expects 5/);
    expect(() => gpu.run((rec) => conv2d(gpu, rec, x, w, null, gpu.tensor([4, 4, 7]), { stride: 2 }))).toThrow(/out has shape \[4, 4, 7\], expected \[4, 4, 6\]/);
    expect(() => gpu.run((rec) => conv2d(gpu, rec, x, gpu.tensor([6, 4, 2, 2], 'Q8_0'), null, gpu.tensor([4, 4, 6]), { stride: 2 }))).toThrow(UnsupportedDtypeError);
    expect(() => gpu.run((rec) => conv2d(gpu, rec, x, w, null, gpu.tensor([4, 4, 6]), { stride: 0 }))).toThrow(ShapeError);
    expect(() => gpu.run((rec) => conv2d(gpu, rec, x, w, gpu.tensor([5]), gpu.tensor([4, 4, 6]), { stride: 2 }))).toThrow(/bias has 5 elements, expected 6/);
    expect(() => gpu.run((rec) => conv2d(gpu, rec, x, w, null, x.view([4, 4, 6]), { stride: 2 }))).toThrow(/shares a GPU buffer with x/);
  });
});

describe('dwconv2d', () => {
  // [H, W, C, K]
  const CASES: [number, number, number, number][] = [[16, 16, 24, 7], [5, 9, 13, 7], [3, 2, 70, 7], [1, 1, 4, 7], [11, 7, 3, 3], [8, 8, 1, 1]];

  for (const dtype of ['F32', 'F16'] as const) {
    it(`matches the reference (same size, zero padding) with ${dtype} weights`, async () => {
      const gpu = await testGpu();
      const rng = new Rng(dtype === 'F32' ? 41 : 42);
      for (const [ci, [H, W, C, K]] of CASES.entries()) {
        const x = rng.f32(H * W * C);
        const w = weights(rng, C * K * K, dtype);
        const b = rng.f32(C);
        const withBias = ci % 2 === 1;
        const tx = gpu.upload(x, [H, W, C]), tw = gpu.upload(w.bytes, [C, 1, K, K], dtype), tb = gpu.upload(b, [C]);
        const out = poisoned(gpu, [H, W, C]);
        gpu.run((rec) => dwconv2d(gpu, rec, tx, tw, withBias ? tb : null, out, { padding: (K - 1) / 2 }));
        expectClose(await gpu.readF32(out), dwconv2dRef(x, H, W, C, w.values, K, withBias ? b : null), tolFor(K * K), `dwconv2d ${H}x${W}x${C} k${K} ${dtype}`);
        for (const t of [tx, tw, tb, out]) t.release();
      }
    });
  }

  it('refuses a padding that changes the size, a weight of the wrong shape and in-place use', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor([4, 4, 8]), out = gpu.tensor([4, 4, 8]);
    expect(() => gpu.run((rec) => dwconv2d(gpu, rec, x, gpu.tensor([8, 1, 7, 7]), null, out, { padding: 2 }))).toThrow(/padding 2 does not keep the size/);
    expect(() => gpu.run((rec) => dwconv2d(gpu, rec, x, gpu.tensor([9, 1, 7, 7]), null, out, { padding: 3 }))).toThrow(/w must be \[C = 8, 1, KH, KW\]/);
    expect(() => gpu.run((rec) => dwconv2d(gpu, rec, x, gpu.tensor([8, 1, 7, 7]), null, x, { padding: 3 }))).toThrow(/cannot run in place/);
  });
});
