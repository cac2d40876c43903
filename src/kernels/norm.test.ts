import { describe, expect, it } from 'vitest';
import { layernorm, rmsnorm } from './norm.ts';
import { layerNormRef, rmsNormRef } from '../reference/norm.ts';
import { Rng } from '../testing/rng.ts';
import { expectClose } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';

// Tolerances. The GPU sums in f32 (per-invocation partial sums, then a 256-way tree) where ggml sums in
// double; the sum's relative error, ~(n/256 + 8) * 2^-24 at worst, reaches the output halved by the square
// root, plus roundings in 1/sqrt and the weight multiply. Measured: <= 3.3e-7 relative (3 ulp) at n = 4097
// and 16384, so rmsnorm allows 1e-6 relative (~8 ulp). LayerNorm subtracts a mean carrying that error and
// then adds a bias, so outputs near zero need an absolute term: measured <= 9.6e-7 with values ~N(0.75, 1.5)
// and weights/biases ~N(0, 1); allowed 2e-6 absolute + 1e-6 relative.
const RMS_TOL = { atol: 0, rtol: 1e-6 };
const LN_TOL = { atol: 2e-6, rtol: 1e-6 };

const SHAPES: [number, number][] = [[1, 1], [3, 3], [2, 8], [5, 65], [1, 255], [7, 1000], [4, 4096], [3, 4097], [40, 64], [33, 100]];

describe('rmsnorm', () => {
  it('matches ggml_rms_norm (+ mul) on awkward shapes, with and without weight, plain and 1 + w', async () => {
    const gpu = await testGpu();
    const rng = new Rng(11);
    for (const [rows, n] of SHAPES) {
      const x = rng.f32(rows * n, 2);
      const w = rng.f32(n);
      const tx = gpu.upload(x, [rows, n]), tw = gpu.upload(w, [n]);
      for (const mode of ['none', 'w', 'addOne'] as const) {
        const out = poisoned(gpu, [rows, n]);
        const weight = mode === 'none' ? null : tw;
        gpu.run((rec) => rmsnorm(gpu, rec, tx, weight, out, { eps: 1e-6, addOne: mode === 'addOne' }));
        const exp = rmsNormRef(x, n, mode === 'none' ? null : w, 1e-6, mode === 'addOne');
        expectClose(await gpu.readF32(out), exp, RMS_TOL, `rmsnorm ${rows}x${n} ${mode}`);
        out.release();
      }
      tx.release(); tw.release();
    }
  });

  it('works in place (out === x) for vec4 and scalar rows', async () => {
    const gpu = await testGpu();
    const rng = new Rng(12);
    for (const [rows, n] of [[3, 4096], [5, 1001]] as const) {
      const x = rng.f32(rows * n);
      const w = rng.f32(n);
      const tx = gpu.upload(x, [rows, n]), tw = gpu.upload(w, [n]);
      gpu.run((rec) => rmsnorm(gpu, rec, tx, tw, tx, { eps: 1e-5 }));
      expectClose(await gpu.readF32(tx), rmsNormRef(x, n, w, 1e-5), RMS_TOL, `rmsnorm in place ${rows}x${n}`);
      tx.release(); tw.release();
    }
  });

  it('uses eps: an all-zero row gives zeros, a tiny row is not blown up past 1/sqrt(eps)', async () => {
    const gpu = await testGpu();
    const n = 16;
    const x = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) x[n + i] = 1e-4;
    const tx = gpu.upload(x, [2, n]);
    const out = poisoned(gpu, [2, n]);
    gpu.run((rec) => rmsnorm(gpu, rec, tx, null, out, { eps: 1e-2 }));
    const got = await gpu.readF32(out);
    expectClose(got, rmsNormRef(x, n, null, 1e-2), RMS_TOL, 'rmsnorm eps');
    expect(got[0]).toBe(0);
    expect(got[n]).toBeCloseTo(1e-4 / Math.sqrt(1e-8 + 1e-2), 6);
    tx.release(); out.release();
  });

  it('refuses wrong shapes, dtypes and partial aliasing with typed errors naming the values', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor([4, 6]);
    const out = gpu.tensor([4, 6]);
    const w5 = gpu.tensor([5]);
    expect(() => gpu.run((rec) => rmsnorm(gpu, rec, x, w5, out, { eps: 1e-5 }))).toThrow(/rmsnorm: weight has 5 elements, expected 6/);
    expect(() => gpu.run((rec) => rmsnorm(gpu, rec, x, null, gpu.tensor([4, 7]), { eps: 1e-5 }))).toThrow(ShapeError);
    const q = gpu.tensor([4, 32], 'Q8_0');
    expect(() => gpu.run((rec) => rmsnorm(gpu, rec, q, null, gpu.tensor([4, 32]), { eps: 1e-5 }))).toThrow(UnsupportedDtypeError);
    expect(() => gpu.run((rec) => rmsnorm(gpu, rec, x, null, x.reshape([24]).reshape([4, 6]), { eps: -1 }))).toThrow(RangeError);
    // the first row of x viewed as out: same buffer, different bytes
    const { Tensor } = await import('../gpu/tensor.ts');
    const head = new Tensor(x.buffer, [2, 6], 'F32', 0, 48);
    const xx = new Tensor(x.buffer, [2, 6], 'F32', 48, 48);
    expect(() => gpu.run((rec) => rmsnorm(gpu, rec, xx, null, head, { eps: 1e-5 }))).toThrow(/shares a GPU buffer/);
    const wView = new Tensor(x.buffer, [6], 'F32', 0, 24);
    expect(() => gpu.run((rec) => rmsnorm(gpu, rec, x, wView, x, { eps: 1e-5 }))).toThrow(/out shares a GPU buffer with weight/);
  });
});

describe('layernorm', () => {
  it('matches ggml_norm (+ mul + add) on awkward shapes and weight/bias combinations', async () => {
    const gpu = await testGpu();
    const rng = new Rng(21);
    for (const [si, [rows, n]] of SHAPES.entries()) {
      const x = rng.f32(rows * n, 1.5);
      for (let i = 0; i < x.length; i++) x[i] += 0.75; // a nonzero mean, as real activations have
      const w = rng.f32(n), b = rng.f32(n);
      const tx = gpu.upload(x, [rows, n]), tw = gpu.upload(w, [n]), tb = gpu.upload(b, [n]);
      // two of the four weight/bias combinations per shape, alternating, to keep the file fast
      const combos = si % 2 ? [[true, false], [false, true]] : [[false, false], [true, true]];
      for (const [useW, useB] of combos) {
        const out = poisoned(gpu, [rows, n]);
        gpu.run((rec) => layernorm(gpu, rec, tx, useW ? tw : null, useB ? tb : null, out, { eps: 1e-5 }));
        const exp = layerNormRef(x, n, useW ? w : null, useB ? b : null, 1e-5);
        expectClose(await gpu.readF32(out), exp, LN_TOL, `layernorm ${rows}x${n} w=${useW} b=${useB}`);
        out.release();
      }
      tx.release(); tw.release(); tb.release();
    }
  });

  it('works in place', async () => {
    const gpu = await testGpu();
    const rng = new Rng(22);
    const [rows, n] = [6, 333];
    const x = rng.f32(rows * n), w = rng.f32(n), b = rng.f32(n);
    const tx = gpu.upload(x, [rows, n]), tw = gpu.upload(w, [n]), tb = gpu.upload(b, [n]);
    gpu.run((rec) => layernorm(gpu, rec, tx, tw, tb, tx, { eps: 1e-5 }));
    expectClose(await gpu.readF32(tx), layerNormRef(x, n, w, b, 1e-5), LN_TOL, 'layernorm in place');
    for (const t of [tx, tw, tb]) t.release();
  });

  it('refuses a bias of the wrong length and an F16 input', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor([3, 10]), out = gpu.tensor([3, 10]), b = gpu.tensor([11]);
    expect(() => gpu.run((rec) => layernorm(gpu, rec, x, null, b, out, { eps: 1e-5 }))).toThrow(/layernorm: bias has 11 elements, expected 10/);
    const h = gpu.tensor([3, 10], 'F16');
    expect(() => gpu.run((rec) => layernorm(gpu, rec, h, null, null, out, { eps: 1e-5 }))).toThrow(/layernorm \(x\): dtype F16 is not supported/);
  });
});
