// Softmax over the last dimension, max-subtracted, with an optional input scale (ggml_soft_max_ext without
// a mask). Rows up to SINGLE_MAX wide use one workgroup per row. Wider rows (a vocabulary of logits, often
// a single row at decode) are cut into CHUNK-element chunks so that the whole GPU works on them: one dispatch
// writes each chunk's (max, sum) to a small scratch buffer, a second merges the row's pairs and writes the
// outputs. Both read x once from memory; a single workgroup per 100k-wide row would leave all but one
// compute unit idle.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, expectShape, grid } from './common.ts';
import { isInPlace, rowsOf } from './aliasing.ts';

export interface SoftmaxOptions {
  /** Multiply x by this before the softmax (default 1). */
  scale?: number;
}

/** Rows wider than this take the two-dispatch split path. */
export const SINGLE_MAX = 4096;
/** Elements per workgroup on the split path (a multiple of 4 and of the workgroup size). */
export const CHUNK = 2048;

export function softmax(gpu: Gpu, rec: Recorder, x: Tensor, out: Tensor, opts: SoftmaxOptions = {}): void {
  expectDtype('softmax', 'x', x, ['F32']);
  expectDtype('softmax', 'out', out, ['F32']);
  expectShape('softmax', 'out', out, x.shape);
  const scale = opts.scale ?? 1;
  if (!Number.isFinite(scale)) throw new RangeError(`softmax: scale must be finite, got ${scale}`);
  const { rows, n } = rowsOf(x);
  if (rows * n === 0) return;
  const inPlace = isInPlace('softmax', x, out);
  const vec4 = n % 4 === 0;
  const v = vec4 ? 4 : 1;
  const nv = n / v;
  const params = ['rows:u32', 'nv:u32', 'chunks:u32', 'chunk_v:u32', 'scale:f32'] as const;

  const writer = (extra: Record<string, boolean>, scratch: Tensor | null) => {
    const defines: Record<string, number | boolean> = { VEC4: vec4, INPLACE: inPlace, ...extra };
    const bindings: ('read' | 'write')[] = [inPlace ? 'write' : 'read'];
    const buffers: Tensor[] = [x];
    if (scratch) { bindings.push('read'); buffers.push(scratch); }
    if (!inPlace) { defines.B_Y = bindings.length + 1; bindings.push('write'); buffers.push(out); }
    return { kernel: gpu.kernel({ shader: 'softmax', label: 'softmax', defines, params, bindings }), buffers };
  };

  if (n <= SINGLE_MAX) {
    const { kernel, buffers } = writer({}, null);
    rec.dispatch(kernel, { params: { rows, nv, chunks: 1, chunk_v: nv, scale }, buffers, workgroups: grid(rows) });
    return;
  }
  const chunkV = CHUNK / v;
  const chunks = Math.ceil(nv / chunkV);
  const scratch = gpu.tensor([rows * chunks * 2], 'F32', 'softmax-partials');
  const p = { rows, nv, chunks, chunk_v: chunkV, scale };
  const partials = gpu.kernel({
    shader: 'softmax', label: 'softmax-partials', defines: { VEC4: vec4, SPLIT_PARTIALS: true }, params, bindings: ['read', 'write'],
  });
  rec.dispatch(partials, { params: p, buffers: [x, scratch], workgroups: grid(rows * chunks) });
  const { kernel, buffers } = writer({ SPLIT_FINISH: true }, scratch);
  rec.dispatch(kernel, { params: p, buffers, workgroups: grid(rows * chunks) });
  // Back to the pool once both dispatches are submitted (registered last, so a flush between them cannot
  // free it early); later users of the buffer are ordered after this work on the queue.
  rec.onSubmitted(() => scratch.release());
}
