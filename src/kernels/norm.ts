// RMSNorm and LayerNorm over the last dimension, with the norm weight (and bias) applied in the same pass.
// One workgroup per row; rows of width % 4 == 0 are read as vec4. out may be x itself (in place).
// With shader-f16, x and out may be F16 (weight and bias stay F32; all arithmetic is f32).

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, expectNumel, expectShape, grid } from './common.ts';
import { activationDtype, f16Defines } from './f16.ts';
import { expectNotAliased, isInPlace, rowsOf } from './aliasing.ts';

export interface RmsNormOptions {
  eps: number;
  /** Scale by (1 + w) instead of w (gemma-style weights stored without the +1). */
  addOne?: boolean;
}

export interface LayerNormOptions {
  eps: number;
}

/** y = x / sqrt(mean(x²) + eps) * (w, or 1 + w with addOne, or 1 when weight is null), per row of x [rows, n]. */
export function rmsnorm(gpu: Gpu, rec: Recorder, x: Tensor, weight: Tensor | null, out: Tensor, opts: RmsNormOptions): void {
  normRows('rmsnorm', gpu, rec, x, weight, null, out, opts.eps, opts.addOne ?? false);
}

/** y = (x - mean) / sqrt(var + eps) * w + b per row of x [rows, n] (ggml_norm, then mul and add). */
export function layernorm(gpu: Gpu, rec: Recorder, x: Tensor, weight: Tensor | null, bias: Tensor | null, out: Tensor, opts: LayerNormOptions): void {
  normRows('layernorm', gpu, rec, x, weight, bias, out, opts.eps, false);
}

function normRows(
  op: 'rmsnorm' | 'layernorm', gpu: Gpu, rec: Recorder, x: Tensor, weight: Tensor | null, bias: Tensor | null,
  out: Tensor, eps: number, addOne: boolean,
): void {
  const dtype = activationDtype(gpu, op, { x, out });
  expectShape(op, 'out', out, x.shape);
  const { rows, n } = rowsOf(x);
  if (weight) {
    expectDtype(op, 'weight', weight, ['F32']);
    expectNumel(op, 'weight', weight, n);
  }
  if (bias) {
    expectDtype(op, 'bias', bias, ['F32']);
    expectNumel(op, 'bias', bias, n);
  }
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new RangeError(`${op}: eps must be a finite number >= 0, got ${eps}`);
  if (rows === 0) return;
  const inPlace = isInPlace(op, x, out);
  expectNotAliased(op, out, { weight, bias });

  const vec4 = n % 4 === 0;
  const bindings: ('read' | 'write')[] = [inPlace ? 'write' : 'read'];
  const buffers: Tensor[] = [x];
  const defines: Record<string, number | boolean> = { LAYERNORM: op === 'layernorm', VEC4: vec4, INPLACE: inPlace, ...f16Defines(dtype) };
  if (!inPlace) { defines.B_Y = bindings.length + 1; bindings.push('write'); buffers.push(out); }
  defines.B_W = bindings.length + 1; bindings.push('read'); buffers.push(weight ?? placeholder(gpu));
  defines.B_B = bindings.length + 1; bindings.push('read'); buffers.push(bias ?? placeholder(gpu));

  const k = gpu.kernel({ shader: 'norm', label: dtype === 'F16' ? `${op}_f16` : op, defines, params: ['rows:u32', 'n:u32', 'nv:u32', 'eps:f32', 'w_mode:u32', 'has_b:u32'], bindings });
  rec.dispatch(k, {
    params: { rows, n, nv: vec4 ? n / 4 : n, eps, w_mode: weight ? (addOne ? 2 : 1) : 0, has_b: bias ? 1 : 0 },
    buffers, workgroups: grid(rows),
  });
}

// Bound in place of an absent weight or bias; never read (16 bytes: one vec4).
const placeholders = new WeakMap<Gpu, Tensor>();
function placeholder(gpu: Gpu): Tensor {
  let t = placeholders.get(gpu);
  if (!t) {
    t = gpu.upload(new Float32Array(4), [4], 'F32', 'norm-placeholder');
    placeholders.set(gpu, t);
  }
  return t;
}
