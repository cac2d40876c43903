// Strided 2-D convolution (ConvNeXt's 4 x 4 / 4 stem and 2 x 2 / 2 downsampling, or any kernel, stride
// and zero padding) as an implicit gemm over the weight as stored: w [Cout, Cin, KH, KW] in F32 or F16.
// x is an image [Cin, H, W] (layout 'chw') or channels-last activations [H, W, Cin] ('hwc'); out is
// always channels last, [OH, OW, Cout]. Convolution weights stay F16 in GGUF mmprojs (llama.cpp's
// converter forces F16 for every tensor of more than two dimensions, and its quantizer leaves them),
// so quantized types are refused rather than carried.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, expectNumel, expectShape } from './common.ts';
import { expectNotAliased } from './aliasing.ts';

export const CONV2D_WEIGHT_TYPES = ['F32', 'F16'] as const;

export interface Conv2dOptions {
  stride: number;
  /** Zero padding on every side (default 0). */
  padding?: number;
  /** Layout of x: 'chw' [Cin, H, W] or 'hwc' [H, W, Cin] (default). */
  layout?: 'chw' | 'hwc';
}

/** Output height and width of a convolution, as PyTorch computes them (floor). */
export function conv2dOutSize(h: number, w: number, kh: number, kw: number, stride: number, padding: number): [number, number] {
  return [Math.floor((h + 2 * padding - kh) / stride) + 1, Math.floor((w + 2 * padding - kw) / stride) + 1];
}

export function conv2d(gpu: Gpu, rec: Recorder, x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, opts: Conv2dOptions): void {
  const op = 'conv2d';
  expectDtype(op, 'x', x, ['F32']);
  expectDtype(op, 'out', out, ['F32']);
  expectDtype(op, 'w', w, CONV2D_WEIGHT_TYPES);
  const layout = opts.layout ?? 'hwc';
  const stride = opts.stride, padding = opts.padding ?? 0;
  if (!Number.isInteger(stride) || stride < 1) throw new ShapeError(op, `stride must be a positive integer, got ${stride}`, { stride });
  if (!Number.isInteger(padding) || padding < 0) throw new ShapeError(op, `padding must be an integer >= 0, got ${padding}`, { padding });
  if (x.shape.length !== 3) throw new ShapeError(op, `x must be 3-D ([Cin, H, W] or [H, W, Cin]), got [${x.shape.join(', ')}]`, { x: x.shape });
  if (w.shape.length !== 4) throw new ShapeError(op, `w must be [Cout, Cin, KH, KW], got [${w.shape.join(', ')}]`, { w: w.shape });
  const [Cout, wCin, KH, KW] = w.shape;
  const [Cin, H, W] = layout === 'chw' ? x.shape : [x.shape[2], x.shape[0], x.shape[1]];
  if (wCin !== Cin) throw new ShapeError(op, `x has ${Cin} channels (${layout}), w expects ${wCin}`, { x: x.shape, w: w.shape, layout });
  if (H + 2 * padding < KH || W + 2 * padding < KW) {
    throw new ShapeError(op, `input ${H} x ${W} (padding ${padding}) is smaller than the kernel ${KH} x ${KW}`, { H, W, KH, KW, padding });
  }
  const [OH, OW] = conv2dOutSize(H, W, KH, KW, stride, padding);
  expectShape(op, 'out', out, [OH, OW, Cout]);
  if (bias) {
    expectDtype(op, 'bias', bias, ['F32']);
    expectNumel(op, 'bias', bias, Cout);
  }
  expectNotAliased(op, out, { x, w, bias });
  gpu.checkBindingSize(`${op} x`, x.byteLength);
  gpu.checkBindingSize(`${op} w`, w.byteLength);
  gpu.checkBindingSize(`${op} out`, out.byteLength);
  const M = OH * OW, K = Cin * KH * KW;
  if (M === 0 || Cout === 0) return;
  const wtype = w.dtype === 'F16' ? 'f16' : 'f32';
  const kernel = gpu.kernel({
    shader: 'conv2d', label: `conv2d_${layout}_${wtype}`,
    defines: { WTYPE: wtype, IN_CHW: layout === 'chw' },
    params: ['M:u32', 'N:u32', 'K:u32', 'H:u32', 'W:u32', 'Cin:u32', 'KH:u32', 'KW:u32', 'S:u32', 'PAD:u32', 'OW:u32', 'has_bias:u32'],
    bindings: ['read', 'read', 'write', 'read'],
  });
  rec.dispatch(kernel, {
    params: { M, N: Cout, K, H, W, Cin, KH, KW, S: stride, PAD: padding, OW, has_bias: bias ? 1 : 0 },
    // Without a bias the shader never reads binding 4; x stands in so the layout stays the same.
    buffers: [x, w, out, bias ?? x],
    workgroups: [Math.ceil(Cout / 64), Math.ceil(M / 64)],
  });
}

/** Multiply-accumulates of one convolution (for benchmarks). */
export function conv2dMacs(OH: number, OW: number, Cout: number, Cin: number, KH: number, KW: number): number {
  return OH * OW * Cout * Cin * KH * KW;
}
