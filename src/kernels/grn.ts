// Global response normalization (ConvNeXt V2) over channels-last x [.., C], every leading position a
// pixel of one image: G[c] = ||x[:, c]||_2, N[c] = G[c] / (mean_c G + eps), y = gamma * (x * N) + beta + x.
// Three dispatches: partial column sums of squares (rows split into chunks so a large map spreads over
// many workgroups), one workgroup for the norms and their mean, then the elementwise apply (in place
// when out is x). The partial sums live in a pooled scratch tensor released after the submit.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, expectNumel, expectShape, grid } from './common.ts';
import { expectNotAliased, isInPlace, rowsOf } from './aliasing.ts';

/** ConvNeXt V2's GRN epsilon (added to the channel mean of the norms). */
export const GRN_EPS = 1e-6;

/** Rows per chunk of the first pass: enough work per workgroup, enough workgroups per map. */
const ROWS_PER_CHUNK = 256;

export function grn(gpu: Gpu, rec: Recorder, x: Tensor, gamma: Tensor, beta: Tensor, out: Tensor, opts: { eps?: number } = {}): void {
  const op = 'grn';
  expectDtype(op, 'x', x, ['F32']);
  expectDtype(op, 'out', out, ['F32']);
  expectDtype(op, 'gamma', gamma, ['F32']);
  expectDtype(op, 'beta', beta, ['F32']);
  expectShape(op, 'out', out, x.shape);
  const { rows: T, n: C } = rowsOf(x);
  expectNumel(op, 'gamma', gamma, C);
  expectNumel(op, 'beta', beta, C);
  const eps = opts.eps ?? GRN_EPS;
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new RangeError(`${op}: eps must be a finite number >= 0, got ${eps}`);
  if (T === 0 || C === 0) return;
  const inPlace = isInPlace(op, x, out);
  expectNotAliased(op, out, { gamma, beta });

  const chunks = Math.ceil(T / ROWS_PER_CHUNK);
  if (chunks > gpu.limits.maxComputeWorkgroupsPerDimension) {
    throw new ShapeError(op, `${T} rows need ${chunks} chunks, more than one dispatch dimension allows`, { T, chunks });
  }
  const partial = gpu.tensor([chunks, C], 'F32', 'grn-partial');
  const scale = gpu.tensor([C], 'F32', 'grn-scale');
  rec.onSubmitted(() => { partial.release(); scale.release(); });
  const params = ['T:u32', 'C:u32', 'rows_per_chunk:u32', 'chunks:u32', 'total:u32', 'eps:f32'] as const;
  const p = { T, C, rows_per_chunk: ROWS_PER_CHUNK, chunks, total: T * C, eps };

  const sumsq = gpu.kernel({ shader: 'grn', label: 'grn_sumsq', defines: { SUMSQ: true }, params, bindings: ['read', 'write'] });
  rec.dispatch(sumsq, { params: p, buffers: [x, partial], workgroups: [Math.ceil(C / 64), chunks] });
  const finish = gpu.kernel({ shader: 'grn', label: 'grn_scale', defines: { SCALE: true }, params, bindings: ['read', 'read', 'write'] });
  rec.dispatch(finish, { params: p, buffers: [partial, gamma, scale], workgroups: 1 });
  const apply = gpu.kernel({
    shader: 'grn', label: inPlace ? 'grn_apply_inplace' : 'grn_apply', defines: { APPLY: true, INPLACE: inPlace }, params,
    bindings: inPlace ? ['write', 'read', 'read'] : ['read', 'read', 'read', 'write'],
  });
  rec.dispatch(apply, { params: p, buffers: inPlace ? [x, scale, beta] : [x, scale, beta, out], workgroups: grid(Math.ceil((T * C) / 256)) });
}
