// Appends token rows to a KV cache [capacity, nKvHead, headDim]: an F32 cache takes a plain buffer copy,
// an F16 cache (two halves per u32, as the attention kernels read it) a pack with round-to-nearest-even.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, grid } from './common.ts';

const OP = 'writeKv';

export function writeKv(gpu: Gpu, rec: Recorder, src: Tensor, cache: Tensor, opts: { offsetTokens: number }): void {
  expectDtype(OP, 'src', src, ['F32']);
  expectDtype(OP, 'cache', cache, ['F32', 'F16']);
  if (src.shape.length !== 3 || cache.shape.length !== 3) {
    throw new ShapeError(OP, `src [T, nKvHead, headDim] and cache [capacity, nKvHead, headDim] expected, got [${src.shape.join(', ')}] and [${cache.shape.join(', ')}]`, { src: src.shape, cache: cache.shape });
  }
  const [T, nKvHead, headDim] = src.shape;
  const [capacity, cKv, cDim] = cache.shape;
  if (cKv !== nKvHead || cDim !== headDim) {
    throw new ShapeError(OP, `src rows [${nKvHead}, ${headDim}] do not match cache rows [${cKv}, ${cDim}]`, { src: src.shape, cache: cache.shape });
  }
  const { offsetTokens } = opts;
  if (!Number.isInteger(offsetTokens) || offsetTokens < 0 || offsetTokens + T > capacity) {
    throw new ShapeError(OP, `tokens ${offsetTokens}..${offsetTokens + T - 1} do not fit a cache of capacity ${capacity}`, { offsetTokens, T, capacity });
  }
  if (cache.dtype === 'F16' && headDim % 4 !== 0) {
    throw new ShapeError(OP, `an F16 cache needs headDim a multiple of 4, got ${headDim}`, { headDim });
  }
  const rowElems = nKvHead * headDim;
  const n = T * rowElems;
  if (n === 0) return;
  if (cache.dtype === 'F32') {
    const offset = cache.offset + offsetTokens * rowElems * 4;
    rec.copy(src, { buffer: cache.buffer, offset, size: n * 4 }, n * 4);
    return;
  }
  const k = gpu.kernel({ shader: 'attention/kv_write_f16', params: ['n4:u32', 'dst:u32'], bindings: ['read', 'write'] });
  rec.dispatch(k, { params: { n4: n / 4, dst: (offsetTokens * rowElems) / 4 }, buffers: [src, cache], workgroups: grid(Math.ceil(n / 4 / 256)) });
}
