// cast needs no shader-f16, so it runs here on SwiftShader as well as in the f16 suite's pipelines.
import { describe, expect, it } from 'vitest';
import { cast } from './cast.ts';
import { castToF16Ref, castToF32Ref } from '../reference/cast.ts';
import { Rng } from '../testing/rng.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { Tensor } from '../gpu/tensor.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';

/** Random normals over many magnitudes plus the cases rounding gets wrong: ties, overflow, subnormals. */
function values(rng: Rng, n: number): Float32Array {
  const special = [0, -0, 1, -1, 65504, 65519.99, 65520, -70000, Infinity, -Infinity, NaN, 2 ** -14, 2 ** -24, 2 ** -25,
    2 ** -25 * 1.0001, 3 * 2 ** -26, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 6.1e-5, 1e-8, 2049, 2051];
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = i < special.length && n > 100 ? special[i] : rng.normal() * 2 ** rng.int(-26, 17);
  return x;
}

const bitsOf = (a: Uint8Array, n: number) => Array.from(new Uint16Array(a.buffer, a.byteOffset, n));

describe('cast', () => {
  it('F32 -> F16 -> F32 bit-exact with the reference on odd and even sizes', async () => {
    const gpu = await testGpu();
    const rng = new Rng(77);
    for (const shape of [[1], [7], [2, 2], [3, 5, 7], [1001]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = values(rng, n);
      const tx = gpu.upload(x, shape);
      const h = gpu.tensor(shape, 'F16');
      gpu.poison(h, 0x7e007e00);
      const back = poisoned(gpu, shape);
      gpu.run((rec) => {
        cast(gpu, rec, tx, h);
        cast(gpu, rec, h, back);
      });
      const want = castToF16Ref(x);
      expect(bitsOf(await gpu.readBytes(h), n), `F16 bits [${shape}]`).toEqual(Array.from(want));
      const got = await gpu.readF32(back);
      // NaN compares unequal: compare the f32 bit patterns' classes instead.
      expect(Array.from(got).map((v) => (Number.isNaN(v) ? 'NaN' : v)), `F32 [${shape}]`)
        .toEqual(Array.from(castToF32Ref(want)).map((v) => (Number.isNaN(v) ? 'NaN' : v)));
      for (const t of [tx, h, back]) t.release();
    }
  });

  it('an odd-length F16 out leaves the half after it alone', async () => {
    const gpu = await testGpu();
    const whole = gpu.upload(new Uint16Array([0x7e00, 0x7e00, 0x7e00, 0x1234]), [4], 'F16');
    const view = new Tensor(whole.buffer, [3], 'F16', whole.offset, 6);
    const x = gpu.upload(new Float32Array([1, 2, 3]), [3]);
    gpu.run((rec) => cast(gpu, rec, x, view));
    expect(bitsOf(await gpu.readBytes(whole), 4)).toEqual([0x3c00, 0x4000, 0x4200, 0x1234]);
  });

  it('refuses other dtypes, shape mismatches and a shared buffer with typed errors', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor([4, 6]);
    const run = (fn: Parameters<typeof gpu.run>[0]) => () => gpu.run(fn);
    expect(run((rec) => cast(gpu, rec, x, gpu.tensor([4, 6])))).toThrow(/cast \(out, x is F32\): dtype F32 is not supported \(supported: F16\)/);
    expect(run((rec) => cast(gpu, rec, gpu.tensor([4, 32], 'Q8_0'), gpu.tensor([4, 32])))).toThrow(UnsupportedDtypeError);
    expect(run((rec) => cast(gpu, rec, x, gpu.tensor([6, 4], 'F16')))).toThrow(ShapeError);
    expect(run((rec) => cast(gpu, rec, x, gpu.tensor([6, 4], 'F16')))).toThrow(/out has shape \[6, 4\], expected \[4, 6\]/);
    const y = new Tensor(x.buffer, [4, 6], 'F16', 0, 48);
    expect(run((rec) => cast(gpu, rec, x, y))).toThrow(/shares a GPU buffer/);
  });
});
