// Activations: silu and gelu (tanh, erf or quick form, or llama.cpp's f16-table GELU), and the gated forms
// swiglu = silu(gate) * up and geglu = gelu(gate) * up, reading gate and up from two tensors or from one
// fused [rows, 2n] tensor holding the gate half first (ggml_swiglu / ggml_geglu on one tensor, unswapped:
// llama.cpp's fused gate_up and phi3's fused ffn_up). With shader-f16, x/gate/up/out may be F16 (all of
// them): the activation is still evaluated in f32 and rounded to f16 once.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { geluF16Table } from '../reference/activation.ts';
import { expectShape, grid } from './common.ts';
import { activationDtype, f16Defines, type ActDtype } from './f16.ts';
import { expectNotAliased, isInPlace, rowsOf } from './aliasing.ts';

export interface GeluOptions {
  /** 'tanh' (ggml_gelu, the default), 'erf' (ggml_gelu_erf) or 'quick' (ggml_gelu_quick: x sigmoid(1.702 x),
   *  CLIP's quick_gelu). */
  approx?: 'tanh' | 'erf' | 'quick';
  /** Reproduce llama.cpp's CPU GELU bit for bit: f16-rounded input looked up in a table of f16-rounded
   *  outputs, with x <= -10 -> 0 and x >= 10 -> x. Tanh form only. */
  llamaCppF16Table?: boolean;
}

type Act = 'ACT_SILU' | 'ACT_GELU_TANH' | 'ACT_GELU_ERF' | 'ACT_GELU_QUICK' | 'ACT_GELU_TABLE';

export function silu(gpu: Gpu, rec: Recorder, x: Tensor, out: Tensor): void {
  unary('silu', 'ACT_SILU', gpu, rec, x, out);
}

export function gelu(gpu: Gpu, rec: Recorder, x: Tensor, out: Tensor, opts: GeluOptions = {}): void {
  unary('gelu', geluAct('gelu', opts), gpu, rec, x, out);
}

/** silu(gate) * up. With up === null, gate is the fused [rows, 2n] tensor (gate half first). */
export function swiglu(gpu: Gpu, rec: Recorder, gate: Tensor, up: Tensor | null, out: Tensor): void {
  gated('swiglu', 'ACT_SILU', gpu, rec, gate, up, out);
}

/** gelu(gate) * up. With up === null, gate is the fused [rows, 2n] tensor (gate half first). */
export function geglu(gpu: Gpu, rec: Recorder, gate: Tensor, up: Tensor | null, out: Tensor, opts: GeluOptions = {}): void {
  gated('geglu', geluAct('geglu', opts), gpu, rec, gate, up, out);
}

function geluAct(op: string, opts: GeluOptions): Act {
  const approx = opts.approx ?? 'tanh';
  if (approx !== 'tanh' && approx !== 'erf' && approx !== 'quick') throw new RangeError(`${op}: approx must be 'tanh', 'erf' or 'quick', got ${String(approx)}`);
  if (opts.llamaCppF16Table) {
    if (approx !== 'tanh') throw new RangeError(`${op}: llamaCppF16Table reproduces the tanh form only (approx is '${approx}')`);
    return 'ACT_GELU_TABLE';
  }
  return approx === 'tanh' ? 'ACT_GELU_TANH' : approx === 'erf' ? 'ACT_GELU_ERF' : 'ACT_GELU_QUICK';
}

function unary(op: string, act: Act, gpu: Gpu, rec: Recorder, x: Tensor, out: Tensor): void {
  const dtype = activationDtype(gpu, op, { x, out });
  expectShape(op, 'out', out, x.shape);
  const total = x.numel;
  if (total === 0) return;
  const inPlace = isInPlace(op, x, out);
  const vec4 = total % 4 === 0;
  const w = vec4 ? 4 : 1;
  dispatchAct(op, act, gpu, rec, { dtype, x, up: null, out, inPlace, vec4, total: total / w, params: { n: total / w, g_stride: 0, g_off: 0, u_stride: 0, u_off: 0 } });
}

function gated(op: string, act: Act, gpu: Gpu, rec: Recorder, gate: Tensor, up: Tensor | null, out: Tensor): void {
  const dtype = activationDtype(gpu, op, { gate, up, out });
  const { rows, n: gn } = rowsOf(gate);
  let n: number;
  if (up) {
    expectShape(op, 'up', up, gate.shape);
    expectShape(op, 'out', out, gate.shape);
    n = gn;
  } else {
    if (gn % 2 !== 0) throw new ShapeError(op, `fused gate/up tensor has odd last dimension ${gn}; expected [rows, 2n]`, { got: gate.shape });
    n = gn / 2;
    expectShape(op, 'out', out, [...gate.shape.slice(0, -1), n]);
  }
  if (rows * n === 0) return;
  expectNotAliased(op, out, { gate, up });
  const vec4 = n % 4 === 0;
  const w = vec4 ? 4 : 1;
  const nv = n / w;
  const params = up
    ? { n: nv, g_stride: nv, g_off: 0, u_stride: nv, u_off: 0 }
    : { n: nv, g_stride: 2 * nv, g_off: 0, u_stride: 2 * nv, u_off: nv };
  dispatchAct(op, act, gpu, rec, { dtype, x: gate, up: up ?? gate, out, inPlace: false, vec4, total: rows * nv, params });
}

interface ActDispatch {
  dtype: ActDtype;
  x: Tensor;
  up: Tensor | null;
  out: Tensor;
  inPlace: boolean;
  vec4: boolean;
  total: number;
  params: Record<'n' | 'g_stride' | 'g_off' | 'u_stride' | 'u_off', number>;
}

function dispatchAct(op: string, act: Act, gpu: Gpu, rec: Recorder, d: ActDispatch): void {
  const defines: Record<string, number | boolean> = { [act]: true, VEC4: d.vec4, INPLACE: d.inPlace, GATED: d.up !== null, ...f16Defines(d.dtype) };
  const bindings: ('read' | 'write')[] = [d.inPlace ? 'write' : 'read'];
  const buffers: Tensor[] = [d.x];
  if (!d.inPlace) { defines.B_Y = bindings.length + 1; bindings.push('write'); buffers.push(d.out); }
  if (d.up) { defines.B_U = bindings.length + 1; bindings.push('read'); buffers.push(d.up); }
  if (act === 'ACT_GELU_TABLE') { defines.B_T = bindings.length + 1; bindings.push('read'); buffers.push(geluTableTensor(gpu)); }
  const k = gpu.kernel({
    shader: 'activation', label: d.dtype === 'F16' ? `${op}_f16` : op, defines, bindings,
    params: ['total:u32', 'n:u32', 'g_stride:u32', 'g_off:u32', 'u_stride:u32', 'u_off:u32'],
  });
  rec.dispatch(k, { params: { total: d.total, ...d.params }, buffers, workgroups: grid(Math.ceil(d.total / 256)) });
}

// ggml_table_gelu_f16, built once per device (128 KiB). The table is llama.cpp's data, computed on the CPU
// exactly as ggml computes it at init; a GPU's own tanh/exp would round differently near f16 midpoints.
const geluTables = new WeakMap<Gpu, Tensor>();
function geluTableTensor(gpu: Gpu): Tensor {
  let t = geluTables.get(gpu);
  if (!t) {
    t = gpu.upload(geluF16Table(), [32768], 'U32', 'gelu-f16-table');
    geluTables.set(gpu, t);
  }
  return t;
}
