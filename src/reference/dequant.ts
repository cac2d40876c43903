// Rows of an [N, K] weight in any GGML format, as f32: ggml's dequantize_row_* (src/formats), row after
// row. Rows are whole blocks, so the rows' bytes simply concatenate.

import type { GgmlTypeName } from '../formats/ggml-types.ts';
import { dequantize } from '../formats/quantize.ts';

export function dequantizeRowsRef(type: GgmlTypeName, bytes: Uint8Array, N: number, K: number): Float32Array {
  return dequantize(type, bytes, N * K);
}
