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

/** One part of a table stored as row ranges (a table over the binding limit): rows [row0, row0 + rows). */
export interface TablePart {
  row0: number;
  t: Tensor;
}

/** out [T, D] F32 (or F16) = table [V, D] rows at ids [T] (U32), times scale. */
export function getRows(gpu: Gpu, rec: Recorder, table: Tensor, ids: Tensor, out: Tensor, opts: GetRowsOptions = {}): void {
  getRowsFromParts(gpu, rec, [{ row0: 0, t: table }], ids, out, opts);
}

/**
 * getRows over a table held as consecutive row parts (each its own buffer): one dispatch per part, each
 * writing the tokens whose ids fall in it. The parts must cover rows 0..V-1 in order, same type and width.
 */
export function getRowsFromParts(gpu: Gpu, rec: Recorder, parts: readonly TablePart[], ids: Tensor, out: Tensor, opts: GetRowsOptions = {}): void {
  if (parts.length === 0) throw new ShapeError('getRows', 'the table has no parts', {});
  let next = 0;
  for (const p of parts) {
    if (p.t.shape.length !== 2) throw new ShapeError('getRows', `table must be [V, D], got [${p.t.shape.join(', ')}]`, { got: p.t.shape });
    if (p.row0 !== next || p.t.dtype !== parts[0].t.dtype || p.t.shape[1] !== parts[0].t.shape[1]) {
      throw new ShapeError('getRows', `table part at row ${p.row0} ([${p.t.shape.join(', ')}] ${p.t.dtype}) does not continue the parts before it (next row ${next}, ${parts[0].t.dtype} rows of ${parts[0].t.shape[1]})`, { row0: p.row0, next });
    }
    next += p.t.shape[0];
  }
  const table = parts[0].t;
  expectDtype('getRows', 'table', table, GET_ROWS_TYPES);
  expectDtype('getRows', 'ids', ids, ['U32']);
  const outF16 = activationDtype(gpu, 'getRows', { out }) === 'F16';
  if (ids.shape.length !== 1) throw new ShapeError('getRows', `ids must be [T], got [${ids.shape.join(', ')}]`, { got: ids.shape });
  const d = table.shape[1];
  const total = next;
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
    params: ['d:u32', 'tokens:u32', 'vocab:u32', 'scale:f32', 'id_base:u32', 'total:u32'], bindings: ['read', 'read', 'write'],
  });
  for (const p of parts) {
    const vocab = p.t.shape[0];
    rec.dispatch(k, { params: { d, tokens, vocab, scale, id_base: p.row0, total }, buffers: [p.t, ids, out], workgroups: grid(Math.ceil((tokens * d) / 8 / 256)) });
  }
}
