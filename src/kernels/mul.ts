// Elementwise products: mul (x * w, w broadcast over rows: norm weights, per-channel scales) and
// scale (x * s: gemma's sqrt(d) embedding scale, attention scales). Exact: one f32 multiply per element.
// With shader-f16, x and out may be F16 (w then F32 or F16); the product is rounded to f16 once.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, expectShape, grid } from './common.ts';
import { activationDtype, f16Defines, type ActDtype } from './f16.ts';
import { expectNotAliased, isInPlace } from './aliasing.ts';

/** out[i] = x[i] * w[i % w.numel]: w is one row broadcast over x's rows, or x's full size. */
export function mul(gpu: Gpu, rec: Recorder, x: Tensor, w: Tensor, out: Tensor): void {
  const dtype = activationDtype(gpu, 'mul', { x, out });
  expectDtype('mul', 'w', w, dtype === 'F16' ? ['F32', 'F16'] : ['F32']);
  expectShape('mul', 'out', out, x.shape);
  if (w.numel === 0 || x.numel % w.numel !== 0) {
    throw new ShapeError('mul', `w (${w.numel} elements) does not broadcast over x (${x.numel})`, { x: x.shape, w: w.shape });
  }
  elementwise('mul', gpu, rec, dtype, x, w, out, 1);
}

/** out = x * s. */
export function scale(gpu: Gpu, rec: Recorder, x: Tensor, s: number, out: Tensor): void {
  const dtype = activationDtype(gpu, 'scale', { x, out });
  expectShape('scale', 'out', out, x.shape);
  if (typeof s !== 'number' || Number.isNaN(s)) throw new RangeError(`scale: s must be a number, got ${String(s)}`);
  elementwise('scale', gpu, rec, dtype, x, null, out, s);
}

function elementwise(op: string, gpu: Gpu, rec: Recorder, dtype: ActDtype, x: Tensor, w: Tensor | null, out: Tensor, s: number): void {
  const total = x.numel;
  if (total === 0) return;
  const inPlace = isInPlace(op, x, out);
  expectNotAliased(op, out, { w });
  const vec4 = total % 4 === 0 && (!w || w.numel % 4 === 0);
  const v = vec4 ? 4 : 1;
  const defines: Record<string, number | boolean> = { SCALAR: !w, VEC4: vec4, INPLACE: inPlace, ...f16Defines(dtype), W_F16: w?.dtype === 'F16' };
  const bindings: ('read' | 'write')[] = [inPlace ? 'write' : 'read'];
  const buffers: Tensor[] = [x];
  if (!inPlace) { defines.B_Y = bindings.length + 1; bindings.push('write'); buffers.push(out); }
  if (w) { defines.B_W = bindings.length + 1; bindings.push('read'); buffers.push(w); }
  const k = gpu.kernel({ shader: 'mul', label: dtype === 'F16' ? `${op}_f16` : op, defines, bindings, params: ['total:u32', 'nw:u32', 's:f32'] });
  rec.dispatch(k, {
    params: { total: total / v, nw: w ? w.numel / v : 1, s },
    buffers, workgroups: grid(Math.ceil(total / v / 256)),
  });
}
