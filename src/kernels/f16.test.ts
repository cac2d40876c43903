// Without shader-f16 every op refuses F16 activations with a typed error naming the feature; the F32
// path is the only one. The device here is asked not to enable shader-f16, so this holds on any adapter
// (SwiftShader has none anyway). The F16 variants themselves are tested on lavapipe (*.f16.test.ts).
import { describe, expect, it } from 'vitest';
import { Gpu } from '../gpu/gpu.ts';
import { UnsupportedDtypeError } from '../gpu/errors.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { activationDtype, F16_NEEDS_FEATURE } from './f16.ts';
import { add } from './add.ts';
import { mul, scale } from './mul.ts';
import { geglu, gelu, silu, swiglu } from './activation.ts';
import { layernorm, rmsnorm } from './norm.ts';
import { getRows } from './get-rows.ts';
import { matmul } from './matmul.ts';
import { rope } from './rope.ts';
import { attention } from './attention.ts';
import { cast } from './cast.ts';

let noF16: Promise<Gpu> | null = null;
const deviceWithoutF16 = () => (noF16 ??= Gpu.create({ f16: false, label: 'no-f16' }));

describe('F16 activations without shader-f16', () => {
  it('every op refuses an F16 activation with UnsupportedDtypeError naming the op, the tensor and the feature', async () => {
    const gpu = await deviceWithoutF16();
    expect(gpu.info.features.shaderF16).toBe(false);
    const h = (...shape: number[]) => gpu.tensor(shape, 'F16');
    const f = (...shape: number[]) => gpu.tensor(shape);
    const pos = gpu.tensor([2], 'U32');
    const calls: [string, (rec: Recorder) => void][] = [
      ['add (a)', (rec) => add(gpu, rec, h(2, 8), h(8), h(2, 8))],
      ['mul (x)', (rec) => mul(gpu, rec, h(2, 8), f(8), h(2, 8))],
      ['scale (x)', (rec) => scale(gpu, rec, h(2, 8), 2, h(2, 8))],
      ['silu (x)', (rec) => silu(gpu, rec, h(2, 8), h(2, 8))],
      ['gelu (out)', (rec) => gelu(gpu, rec, f(2, 8), h(2, 8))],
      ['swiglu (gate)', (rec) => swiglu(gpu, rec, h(2, 8), h(2, 8), h(2, 8))],
      ['geglu (gate)', (rec) => geglu(gpu, rec, h(2, 16), null, h(2, 8))],
      ['rmsnorm (x)', (rec) => rmsnorm(gpu, rec, h(2, 8), f(8), h(2, 8), { eps: 1e-6 })],
      ['layernorm (x)', (rec) => layernorm(gpu, rec, h(2, 8), null, null, h(2, 8), { eps: 1e-5 })],
      ['getRows (out)', (rec) => getRows(gpu, rec, gpu.tensor([4, 32], 'Q8_0'), pos, h(2, 32))],
      ['matmul (x)', (rec) => matmul(gpu, rec, h(2, 32), gpu.tensor([3, 32], 'Q8_0'), h(2, 3))],
      ['matmul (x)', (rec) => matmul(gpu, rec, h(2, 32), gpu.tensor([3, 32], 'Q8_0'), f(2, 3))],
      ['rope (x)', (rec) => rope(gpu, rec, h(2, 1, 8), pos, h(2, 1, 8), { mode: 'norm', nDims: 8, freqBase: 1e4 })],
      ['attention (q)', (rec) => attention(gpu, rec, h(1, 2, 8), f(4, 2, 8), f(4, 2, 8), h(1, 2, 8), { kvLen: 4, pos0: 3, causal: true })],
    ];
    for (const [name, call] of calls) {
      const run = () => gpu.run(call);
      expect(run, name).toThrow(UnsupportedDtypeError);
      const msg = name.replace(/[()]/g, (c) => `\\${c}`);
      expect(run, name).toThrow(new RegExp(`^${msg}: dtype F16 is not supported \\(supported: F32, F16 only with the shader-f16 feature`));
    }
  });

  it('cast needs no shader-f16: the F16 boundary works on any device', async () => {
    const gpu = await deviceWithoutF16();
    const x = gpu.upload(new Float32Array([1, -2.5, 65504, 1e-7]), [4]);
    const h = gpu.tensor([4], 'F16');
    const back = gpu.tensor([4]);
    gpu.run((rec) => { cast(gpu, rec, x, h); cast(gpu, rec, h, back); });
    expect(Array.from(await gpu.readF32(back))).toEqual([1, -2.5, 65504, 1.1920928955078125e-7]);
  });

  it('activationDtype names the feature, and a mix of F32 and F16', async () => {
    const gpu = await deviceWithoutF16();
    expect(() => activationDtype(gpu, 'op', { x: gpu.tensor([2], 'F16') })).toThrow(F16_NEEDS_FEATURE);
    expect(() => activationDtype(gpu, 'op', { x: gpu.tensor([2], 'Q8_0') })).toThrow(/op \(x\): dtype Q8_0 is not supported/);
    expect(activationDtype(gpu, 'op', { x: gpu.tensor([2]), y: undefined })).toBe('F32');
  });
});
