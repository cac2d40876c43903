// Attention over a token-major KV cache: q [T, nHead, headDim] against K and V [capacity, nKvHead,
// headDim] (F32, or F16 packed two halves to a u32), out [T, nHead, headDim]. Query head h reads kv
// head floor(h / (nHead / nKvHead)), as ggml's flash_attn_ext does (consecutive heads share a kv head).
// Two variants with one interface: flash-decoding for a few query rows (the KV length split into
// chunks, each a workgroup, then a reduce), and tiled online-softmax attention for many rows.
// With shader-f16, q and out may be F16 (both): read into f32, softmax and P·V in f32, out rounded once.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, expectShape, grid } from './common.ts';
import { activationDtype } from './f16.ts';

export { writeKv } from './kv-write.ts';

export interface AttentionOptions {
  /** Keys/values 0..kvLen-1 of the cache are valid; the rest is never read. */
  kvLen: number;
  /** Absolute position of query row 0; row i sits at pos0 + i. */
  pos0: number;
  /** true: key j is visible to row i iff j <= pos0 + i. false: every row sees all kvLen keys. */
  causal: boolean;
  /** Multiplies q·k; default 1/sqrt(headDim). */
  scale?: number;
  /** Key j also needs pos - j < window (llama.cpp's standard SWA: masked iff pos - j >= n_swa). 0 or absent: none. */
  slidingWindow?: number;
  /** logits = softcap * tanh(scale * q·k / softcap) (gemma2). 0 or absent: none. */
  softcap?: number;
  /** auto: decode for T <= DECODE_MAX_ROWS, prefill otherwise. */
  variant?: 'auto' | 'prefill' | 'decode';
}

const OP = 'attention';
export const MAX_HEAD_DIM = 256;
/** auto picks flash-decoding up to this many query rows: it reads K/V once per 8 queries of a kv head,
 *  the tiled kernel once per query head. */
export const DECODE_MAX_ROWS = 8;
const KV_DTYPES = ['F32', 'F16'] as const;

// Flash-decoding: 64 threads and 64 keys per tile, up to 8 queries of one kv head per workgroup.
const DECODE_TILE = 64;
const DECODE_MAX_QUERIES = 8;
/** Workgroups flash-decoding aims for: enough to fill a discrete GPU's cores a few times over. */
const DECODE_TARGET_WORKGROUPS = 128;
/** Shortest chunk worth a workgroup (and a partial to combine). */
const DECODE_MIN_CHUNK = 256;

const DECODE_PARAMS = [
  'T:u32', 'nHead:u32', 'nKvHead:u32', 'nRep:u32', 'kvLen:u32', 'pos0:u32', 'causal:u32', 'window:u32',
  'scale:f32', 'softcap:f32', 'd4:u32', 'nSplit:u32', 'chunk:u32', 'lo:u32', 'hi:u32', 'nQSets:u32', 'statsAt:u32',
] as const;
const PREFILL_PARAMS = [
  'T:u32', 'nHead:u32', 'nKvHead:u32', 'nRep:u32', 'kvLen:u32', 'pos0:u32', 'causal:u32', 'window:u32',
  'scale:f32', 'softcap:f32', 'd4:u32',
] as const;

interface Problem {
  T: number;
  nHead: number;
  nKvHead: number;
  headDim: number;
  f16: boolean;
  /** q and out are F16 (shader-f16). */
  actF16: boolean;
  kvLen: number;
  pos0: number;
  causal: boolean;
  window: number;
  softcap: number;
  /** scale with the softcap division folded in. */
  qScale: number;
}

export function attention(gpu: Gpu, rec: Recorder, q: Tensor, kCache: Tensor, vCache: Tensor, out: Tensor, opts: AttentionOptions): void {
  const p = checkAttention(gpu, q, kCache, vCache, out, opts);
  if (p.T === 0) return;
  const variant = opts.variant ?? 'auto';
  if (variant === 'decode' || (variant === 'auto' && p.T <= DECODE_MAX_ROWS)) decodeAttention(gpu, rec, p, q, kCache, vCache, out);
  else prefillAttention(gpu, rec, p, q, kCache, vCache, out);
}

function checkAttention(gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, out: Tensor, opts: AttentionOptions): Problem {
  const actF16 = activationDtype(gpu, OP, { q, out }) === 'F16';
  expectDtype(OP, 'kCache', k, KV_DTYPES);
  if (v.dtype !== k.dtype) throw new UnsupportedDtypeError(`${OP} (vCache, kCache is ${k.dtype})`, v.dtype, [k.dtype]);
  if (q.shape.length !== 3) throw new ShapeError(OP, `q must be [T, nHead, headDim], got [${q.shape.join(', ')}]`, { q: q.shape });
  if (k.shape.length !== 3) throw new ShapeError(OP, `kCache must be [capacity, nKvHead, headDim], got [${k.shape.join(', ')}]`, { kCache: k.shape });
  const [T, nHead, headDim] = q.shape;
  const [capacity, nKvHead, kDim] = k.shape;
  expectShape(OP, 'vCache', v, k.shape);
  expectShape(OP, 'out', out, q.shape);
  if (kDim !== headDim) throw new ShapeError(OP, `q headDim ${headDim} differs from the cache's ${kDim}`, { headDim, cacheHeadDim: kDim });
  if (headDim % 4 !== 0 || headDim < 4 || headDim > MAX_HEAD_DIM) {
    throw new ShapeError(OP, `headDim ${headDim} is not supported (a multiple of 4 from 4 to ${MAX_HEAD_DIM})`, { headDim });
  }
  if (nKvHead < 1 || nHead % nKvHead !== 0) throw new ShapeError(OP, `nHead ${nHead} is not a multiple of nKvHead ${nKvHead}`, { nHead, nKvHead });
  const { kvLen, pos0, causal } = opts;
  if (!Number.isInteger(kvLen) || kvLen < 0 || kvLen > capacity) {
    throw new ShapeError(OP, `kvLen ${kvLen} is outside the cache (capacity ${capacity})`, { kvLen, capacity });
  }
  if (!Number.isInteger(pos0) || pos0 < 0 || pos0 + T > 2 ** 31) throw new ShapeError(OP, `pos0 ${pos0} is not a valid position`, { pos0 });
  if (causal && pos0 + T > kvLen) {
    throw new ShapeError(OP, `causal rows reach position ${pos0 + T - 1} but kvLen is ${kvLen} (pos0 ${pos0} + T ${T} > kvLen)`, { pos0, T, kvLen });
  }
  const window = opts.slidingWindow ?? 0;
  if (!Number.isInteger(window) || window < 0 || window >= 2 ** 31) throw new ShapeError(OP, `slidingWindow ${window} must be a positive integer`, { slidingWindow: window });
  const softcap = opts.softcap ?? 0;
  if (!Number.isFinite(softcap) || softcap < 0) throw new ShapeError(OP, `softcap ${softcap} must be a positive number`, { softcap });
  const scale = opts.scale ?? 1 / Math.sqrt(headDim);
  if (!Number.isFinite(scale)) throw new ShapeError(OP, `scale ${scale} is not finite`, { scale });
  return {
    T, nHead, nKvHead, headDim, f16: k.dtype === 'F16', actF16, kvLen, pos0, causal, window, softcap,
    qScale: softcap > 0 ? scale / softcap : scale,
  };
}

function commonParams(p: Problem): Record<string, number> {
  return {
    T: p.T, nHead: p.nHead, nKvHead: p.nKvHead, nRep: p.nHead / p.nKvHead, kvLen: p.kvLen, pos0: p.pos0,
    causal: p.causal ? 1 : 0, window: p.window, scale: p.qScale, softcap: p.softcap, d4: p.headDim / 4,
  };
}

// ---- flash-decoding ------------------------------------------------------------------------------

export interface DecodePlan {
  /** Queries per workgroup: heads of a GQA group times rows, rounded up to 1, 2, 4 or 8 (a pipeline each). */
  queriesPerGroup: number;
  /** Workgroups along the queries of one kv head. */
  querySets: number;
  /** Keys [lo, hi) some row can see; the chunks split this range. */
  lo: number;
  hi: number;
  /** Keys per chunk (a multiple of the 64-key tile) and the number of chunks. */
  chunk: number;
  splits: number;
}

/** How flash-decoding splits the work: chunks are added until the GPU has about 128 workgroups, but
 *  none shorter than 256 keys, so a short context stays one pass with no reduce. */
export function decodePlan(dims: { T: number; nHead: number; nKvHead: number }, opts: Pick<AttentionOptions, 'kvLen' | 'pos0' | 'causal' | 'slidingWindow'>): DecodePlan {
  const nq = dims.T * (dims.nHead / dims.nKvHead);
  const queriesPerGroup = Math.min(DECODE_MAX_QUERIES, 2 ** Math.ceil(Math.log2(Math.max(1, nq))));
  const querySets = Math.ceil(nq / queriesPerGroup);
  const window = opts.slidingWindow ?? 0;
  const hi = opts.causal ? Math.min(opts.kvLen, opts.pos0 + dims.T) : opts.kvLen;
  const lo = Math.min(hi, window ? Math.max(0, opts.pos0 + 1 - window) : 0);
  const keys = hi - lo;
  const want = Math.ceil(DECODE_TARGET_WORKGROUPS / (dims.nKvHead * querySets));
  let splits = Math.max(1, Math.min(want, Math.ceil(keys / DECODE_MIN_CHUNK)));
  const chunk = Math.ceil(Math.ceil(keys / splits) / DECODE_TILE) * DECODE_TILE;
  splits = chunk ? Math.ceil(keys / chunk) : 1;
  return { queriesPerGroup, querySets, lo, hi, chunk, splits };
}

function decodeAttention(gpu: Gpu, rec: Recorder, p: Problem, q: Tensor, k: Tensor, v: Tensor, out: Tensor): void {
  const plan = decodePlan(p, { kvLen: p.kvLen, pos0: p.pos0, causal: p.causal, slidingWindow: p.window });
  const d4 = p.headDim / 4;
  const rows = p.T * p.nHead;
  // Head dim and chunk count are uniforms, not defines: one pipeline per (queries per group, cache dtype).
  // An F16 out is written by the decode kernel itself only with one chunk; partials stay f32.
  const dstF16 = p.actF16 && plan.splits === 1;
  const kernel = gpu.kernel({
    shader: 'attention/decode',
    defines: { M: plan.queriesPerGroup, F16KV: p.f16, ACT_F16: p.actF16, DST_F16: dstF16 },
    params: DECODE_PARAMS,
    bindings: ['read', 'read', 'read', 'write'],
    label: `attention/decode m${plan.queriesPerGroup}${p.f16 ? ' f16kv' : ''}${p.actF16 ? ' f16q' : ''}${dstF16 ? ' f16out' : ''}`,
  });
  const statsAt = plan.splits * rows * d4;
  const params = { ...commonParams(p), nSplit: plan.splits, chunk: plan.chunk, lo: plan.lo, hi: plan.hi, nQSets: plan.querySets, statsAt };
  const workgroups = grid(plan.splits * p.nKvHead * plan.querySets);
  if (plan.splits === 1) {
    rec.dispatch(kernel, { params, buffers: [q, k, v, out], workgroups });
    return;
  }
  // Partials [splits, rows, headDim], then a vec4 (max, sum, -, -) per (split, row).
  const part = gpu.tensor([statsAt * 4 + plan.splits * rows * 4], 'F32', 'attention-partial');
  rec.dispatch(kernel, { params, buffers: [q, k, v, part], workgroups });
  const reduce = gpu.kernel({ shader: 'attention/decode_reduce', label: `attention/decode_reduce${p.actF16 ? ' f16out' : ''}`, defines: { OUT_F16: p.actF16 }, params: ['nRows:u32', 'd4:u32', 'nSplit:u32', 'statsAt:u32'], bindings: ['read', 'write'] });
  rec.dispatch(reduce, { params: { nRows: rows, d4, nSplit: plan.splits, statsAt }, buffers: [part, out], workgroups: grid(Math.ceil((rows * d4) / 64)) });
  // Back to the pool only once submitted: a writeBuffer into a recycled buffer before then would land
  // ahead of these dispatches in queue order and be overwritten by them.
  rec.onSubmitted(() => part.release());
}

// ---- tiled prefill ------------------------------------------------------------------------------

/** Tile shapes by head dim class (up to 64, 128, 256): query rows BR, keys BC, threads per row NS.
 *  Workgroup memory holds BR + BC rows of the class's largest head dim plus two BR x BC score tiles:
 *  at most 14.4 KiB. The head dim itself is a uniform, so a class is one pipeline per cache dtype. */
function prefillTiles(headDim: number): { BR: number; BC: number; NS: number; D4MAX: number } {
  if (headDim <= 64) return { BR: 16, BC: 16, NS: 16, D4MAX: 16 };
  if (headDim <= 128) return { BR: 16, BC: 8, NS: 8, D4MAX: 32 };
  return { BR: 8, BC: 6, NS: 8, D4MAX: 64 };
}

function prefillAttention(gpu: Gpu, rec: Recorder, p: Problem, q: Tensor, k: Tensor, v: Tensor, out: Tensor): void {
  const { BR, BC, NS, D4MAX } = prefillTiles(p.headDim);
  const kernel = gpu.kernel({
    shader: 'attention/prefill',
    defines: { D4MAX, BR, BC, NS, WG: BR * NS, F16KV: p.f16, ACT_F16: p.actF16 },
    params: PREFILL_PARAMS,
    bindings: ['read', 'read', 'read', 'write'],
    label: `attention/prefill d<=${D4MAX * 4}${p.f16 ? ' f16kv' : ''}${p.actF16 ? ' f16' : ''}`,
  });
  rec.dispatch(kernel, { params: commonParams(p), buffers: [q, k, v, out], workgroups: grid(Math.ceil(p.T / BR) * p.nHead) });
}
