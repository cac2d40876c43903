// Activation rounding before a matmul, as llama.cpp's CPU backend does it: ggml converts the activation
// row to the weight type's "vec_dot_type" (Q8_0 blocks for Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 weights — Q8_1 for
// the _1 types holds the same quantized values —, Q8_K super-blocks for K-quants, F16 for F16 weights)
// and takes the dot product against that. fakeQuantAct writes what those quantized activations decode
// to, as F32, so an F32 matmul over them sees the same inputs llama.cpp's integer dot products see.
// Q8_0 follows the x86 SIMD quantizer the CPU backend actually calls (id = 127 / amax, halfway points to
// even), not quantize_row_q8_0_ref (id = 1 / d, roundf): the two disagree on exact halfway points, and
// one such value is enough to move a whole continuation's logits (see shaders/act_quant.wgsl).

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';
import type { DType, Tensor } from '../gpu/tensor.ts';
import { expectDtype, grid } from './common.ts';
import { isInPlace } from './aliasing.ts';

export type ActQuantMode = 'q8_0' | 'q8_K' | 'f16';

/** Block length of each mode (1: elementwise). */
export const ACT_QUANT_BLOCK: Record<ActQuantMode, number> = { q8_0: 32, q8_K: 256, f16: 1 };

/** llama.cpp's activation type per weight type (ggml-cpu's vec_dot_type); null: the activation stays F32. */
const ACT_MODE: Partial<Record<DType, ActQuantMode | null>> = {
  F32: null,
  F16: 'f16',
  Q4_0: 'q8_0', Q4_1: 'q8_0', Q5_0: 'q8_0', Q5_1: 'q8_0', Q8_0: 'q8_0',
  Q2_K: 'q8_K', Q3_K: 'q8_K', Q4_K: 'q8_K', Q5_K: 'q8_K', Q6_K: 'q8_K',
};

/** The rounding llama.cpp's CPU path applies to activations multiplied by `weightDtype` weights. */
export function actQuantModeFor(weightDtype: DType): ActQuantMode | null {
  const mode = ACT_MODE[weightDtype];
  if (mode === undefined) throw new UnsupportedDtypeError('actQuantModeFor', weightDtype, Object.keys(ACT_MODE));
  return mode;
}

/** out = x with every value rounded as `mode` quantizes it (blocks run along the flattened rows, so the
 *  last dimension must be a whole number of blocks). out may be x itself. */
export function fakeQuantAct(gpu: Gpu, rec: Recorder, x: Tensor, out: Tensor, mode: ActQuantMode): void {
  const op = 'fakeQuantAct';
  expectDtype(op, 'x', x, ['F32']);
  expectDtype(op, 'out', out, ['F32']);
  const block = ACT_QUANT_BLOCK[mode];
  if (block === undefined) throw new UnsupportedDtypeError(op, mode, Object.keys(ACT_QUANT_BLOCK));
  if (out.numel !== x.numel) throw new ShapeError(op, `out has ${out.numel} elements, x has ${x.numel}`, { x: x.shape, out: out.shape });
  const row = x.shape.length ? x.shape[x.shape.length - 1] : 1;
  if (row % block !== 0) {
    throw new ShapeError(op, `rows of ${row} values are not a whole number of ${mode} blocks of ${block}`, { row, block, mode });
  }
  const inPlace = isInPlace(op, x, out);
  const n = x.numel;
  if (n === 0) return;
  const kernel = gpu.kernel({
    shader: 'act_quant',
    label: `act_quant_${mode}`,
    defines: {
      MODE_F16: mode === 'f16', MODE_Q8_0: mode === 'q8_0', MODE_Q8_K: mode === 'q8_K',
      BLOCK: block, ELEM: mode === 'f16' ? 'f32' : 'vec4f', IN_PLACE: inPlace,
    },
    params: ['n:u32'],
    bindings: inPlace ? ['write'] : ['read', 'write'],
  });
  // f16: one value per thread, 256 per workgroup; q8: one vec4 per thread, 256 values per workgroup.
  rec.dispatch(kernel, { params: { n }, buffers: inPlace ? [out] : [x, out], workgroups: grid(Math.ceil(n / 256)) });
}
