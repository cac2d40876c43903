// Dequantize the rows of an [N, K] weight to f32 [N, K]: for debugging, for looking up rows of a
// quantized embedding table, and for tied output weights. It decodes through the same shaders/quant/
// includes the matmul kernels use (w_load8), so it doubles as their test.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';
import type { DType, Tensor } from '../gpu/tensor.ts';
import { GGML_BLOCK, type GgmlTypeName } from '../formats/ggml-types.ts';
import { expectDtype, expectShape, grid } from './common.ts';

/** Weight formats with a shaders/quant/<include>.wgsl implementing W_BLOCK, W_BLOCK_BYTES and w_load8. */
export const DEQUANT_TYPES: Partial<Record<DType, string>> = {
  F32: 'f32', F16: 'f16', Q8_0: 'q8_0', Q4_0: 'q4_0', Q4_1: 'q4_1', Q4_K: 'q4_k', Q5_K: 'q5_k', Q6_K: 'q6_k',
};

export function dequantizeRows(gpu: Gpu, rec: Recorder, w: Tensor, out: Tensor): void {
  const op = 'dequantizeRows';
  const include = DEQUANT_TYPES[w.dtype];
  if (!include) throw new UnsupportedDtypeError(`${op} (w)`, w.dtype, Object.keys(DEQUANT_TYPES));
  expectDtype(op, 'out', out, ['F32']);
  if (w.shape.length !== 2) throw new ShapeError(op, `w must be [N, K], got [${w.shape.join(', ')}]`, { w: w.shape });
  const [N, K] = w.shape;
  // Each thread writes eight values as two vec4s, so rows must be whole chunks of eight (and of blocks).
  const unit = Math.max(8, GGML_BLOCK[w.dtype as GgmlTypeName]!.blockSize); // every DEQUANT_TYPES key is a GGML type
  if (K % unit !== 0) throw new ShapeError(op, `K = ${K} is not a multiple of ${unit} (${w.dtype})`, { K, unit, dtype: w.dtype });
  expectShape(op, 'out', out, [N, K]);
  gpu.checkBindingSize(`${op} w`, w.byteLength);
  gpu.checkBindingSize(`${op} out`, out.byteLength);
  if (N === 0 || K === 0) return;
  const kernel = gpu.kernel({
    shader: 'dequant', label: `dequant_${include}`, defines: { WTYPE: include },
    params: ['N:u32', 'K:u32'], bindings: ['read', 'write'],
  });
  rec.dispatch(kernel, { params: { N, K }, buffers: [w, out], workgroups: grid(Math.ceil((N * K) / 8 / 256)) });
}
