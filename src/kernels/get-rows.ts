// Embedding lookup (ggml_get_rows, then ggml_scale when a scale is given: gemma's sqrt(d)): out[t] =
// table[ids[t]] as F32, decoded through the shared weight-format includes shaders/quant/<type>.wgsl.
// Ids are read on the GPU; an id outside the table gives a zero row rather than an out-of-bounds read.
// With shader-f16, out may be F16 (the embeddings entering an F16 activation stream).

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { DType, Tensor } from '../gpu/tensor.ts';
import { GGML_BLOCK } from '../formats/ggml-types.ts';
import { expectDtype, expectShape, grid } from './common.ts';
import { activationDtype } from './f16.ts';

export const GET_ROWS_TYPES = ['F32', 'F16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q4_K', 'Q5_K', 'Q6_K'] as const satisfies readonly DType[];

export interface GetRowsOptions {
  /** Multiply every value by this (default 1). */
  scale?: number;
}

/** out [T, D] F32 (or F16) = table [V, D] rows at ids [T] (U32), times scale. */
export function getRows(gpu: Gpu, rec: Recorder, table: Tensor, ids: Tensor, out: Tensor, opts: GetRowsOptions = {}): void {
  expectDtype('getRows', 'table', table, GET_ROWS_TYPES);
  expectDtype('getRows', 'ids', ids, ['U32']);
  const outF16 = activationDtype(gpu, 'getRows', { out }) === 'F16';
  if (table.shape.length !== 2) throw new ShapeError('getRows', `table must be [V, D], got [${table.shape.join(', ')}]`, { got: table.shape });
  if (ids.shape.length !== 1) throw new ShapeError('getRows', `ids must be [T], got [${ids.shape.join(', ')}]`, { got: ids.shape });
  const [vocab, d] = table.shape;
  const tokens = ids.shape[0];
  expectShape('getRows', 'out', out, [tokens, d]);
  const block = GGML_BLOCK[table.dtype as keyof typeof GGML_BLOCK]!.blockSize;
  if (d % 8 !== 0 || d % block !== 0) {
    throw new ShapeError('getRows', `row length D = ${d} must be a multiple of 8 and of the ${table.dtype} block size ${block}`, { d, block, dtype: table.dtype });
  }
  const scale = opts.scale ?? 1;
  if (!Number.isFinite(scale)) throw new RangeError(`getRows: scale must be finite, got ${scale}`);
  if (tokens === 0 || d === 0) return;
  const k = gpu.kernel({
    shader: 'get-rows', label: `getRows-${table.dtype}${outF16 ? '-f16' : ''}`, defines: { WTYPE: table.dtype.toLowerCase(), Y_F16: outF16 },
    params: ['d:u32', 'tokens:u32', 'vocab:u32', 'scale:f32'], bindings: ['read', 'read', 'write'],
  });
  rec.dispatch(k, { params: { d, tokens, vocab, scale }, buffers: [table, ids, out], workgroups: grid(Math.ceil((tokens * d) / 8 / 256)) });
}
