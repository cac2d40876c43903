// Depthwise 2-D convolution, stride 1, channels last (ConvNeXt's 7 x 7 with padding 3): x and out are
// [H, W, C], w is the weight as stored, [C, 1, KH, KW] in F32 or F16, bias [C] F32 (optional). The
// output keeps the input's size, so 2 * padding must equal the kernel size minus one.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, expectNumel, expectShape, grid } from './common.ts';
import { expectNotAliased } from './aliasing.ts';

export function dwconv2d(gpu: Gpu, rec: Recorder, x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, opts: { padding: number }): void {
  const op = 'dwconv2d';
  expectDtype(op, 'x', x, ['F32']);
  expectDtype(op, 'out', out, ['F32']);
  expectDtype(op, 'w', w, ['F32', 'F16']);
  if (x.shape.length !== 3) throw new ShapeError(op, `x must be [H, W, C], got [${x.shape.join(', ')}]`, { x: x.shape });
  const [H, W, C] = x.shape;
  if (w.shape.length !== 4 || w.shape[0] !== C || w.shape[1] !== 1) {
    throw new ShapeError(op, `w must be [C = ${C}, 1, KH, KW], got [${w.shape.join(', ')}]`, { w: w.shape, C });
  }
  const [, , KH, KW] = w.shape;
  const pad = opts.padding;
  if (!Number.isInteger(pad) || 2 * pad !== KH - 1 || 2 * pad !== KW - 1) {
    throw new ShapeError(op, `padding ${pad} does not keep the size with a ${KH} x ${KW} kernel (needs (k - 1) / 2 on each side)`, { pad, KH, KW });
  }
  expectShape(op, 'out', out, x.shape);
  if (bias) {
    expectDtype(op, 'bias', bias, ['F32']);
    expectNumel(op, 'bias', bias, C);
  }
  // Every output reads 49 neighbours: in place would read values already overwritten.
  if (out.buffer === x.buffer) throw new ShapeError(op, 'out shares a GPU buffer with x; a convolution cannot run in place', {});
  expectNotAliased(op, out, { w, bias });
  const total = x.numel;
  if (total === 0) return;
  const kernel = gpu.kernel({
    shader: 'dwconv2d', label: `dwconv2d_${w.dtype.toLowerCase()}`, defines: { W_F16: w.dtype === 'F16' },
    params: ['total:u32', 'H:u32', 'W:u32', 'C:u32', 'KH:u32', 'KW:u32', 'PAD:u32', 'has_bias:u32'],
    bindings: ['read', 'read', 'read', 'write'],
  });
  rec.dispatch(kernel, {
    params: { total, H, W, C, KH, KW, PAD: pad, has_bias: bias ? 1 : 0 },
    buffers: [x, w, bias ?? x, out],
    workgroups: grid(Math.ceil(total / 256)),
  });
}
