// ggml_get_rows (dequantize each selected row to float) then ggml_scale. Ids outside the table give zero
// rows, the GPU op's defined behaviour (ggml asserts instead).

import { dequantize } from '../formats/quantize.ts';
import { ggmlByteSize, type GgmlTypeName } from '../formats/ggml-types.ts';

export function getRowsRef(type: GgmlTypeName, table: Uint8Array, vocab: number, d: number, ids: Uint32Array, scale = 1): Float32Array {
  const rowBytes = ggmlByteSize(type, d);
  const s = Math.fround(scale);
  const out = new Float32Array(ids.length * d);
  ids.forEach((id, t) => {
    if (id >= vocab) return;
    const row = dequantize(type, table.subarray(id * rowBytes, (id + 1) * rowBytes), d);
    for (let i = 0; i < d; i++) out[t * d + i] = Math.fround(row[i] * s);
  });
  return out;
}
