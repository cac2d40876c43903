// y = x · Wᵀ (+ bias) (+ y): every linear layer. x is F32 [.., K], W is [N, K] in any weight format of
// MATMUL_WEIGHT_TYPES (dequantized on the fly by the shaders/quant/<type>.wgsl include), y is F32 [.., N].
// Two pipelines over the same weight interface: gemv for a few rows (decode), gemm for many (prefill).
// With shader-f16, x may be F16 (out F16, or F32 for logits): the siblings gemv_f16 / gemm_f16.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { DeviceLimitError, ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';
import { dtypeByteSize, Tensor, type DType } from '../gpu/tensor.ts';
import { GGML_BLOCK, type GgmlTypeName } from '../formats/ggml-types.ts';
import { expectDtype, grid } from './common.ts';
import { expectNotAliased } from './aliasing.ts';
import { activationDtype } from './f16.ts';

/** Weight formats matmul reads, each by its WGSL include shaders/quant/<include>.wgsl. Adding a format is
 *  one line here plus that include (which implements W_BLOCK, W_BLOCK_BYTES and w_load8). */
export const MATMUL_WEIGHT_TYPES: Partial<Record<DType, { include: string }>> = {
  F32: { include: 'f32' },
  F16: { include: 'f16' },
  Q8_0: { include: 'q8_0' },
  Q4_0: { include: 'q4_0' },
  Q4_1: { include: 'q4_1' },
  Q4_K: { include: 'q4_k' },
  Q5_K: { include: 'q5_k' },
  Q6_K: { include: 'q6_k' },
};

/** Up to this many rows the gemv kernel runs: it reads each weight once for all rows and keeps one
 *  accumulator per row in registers, which beats a 64-row gemm tile that would be mostly empty. From
 *  GEMV_MAX_M + 1 rows on the gemm tiles reuse each staged weight 64 times. */
export const GEMV_MAX_M = 8;

export interface MatmulOptions {
  /** F32 [N], added to every row. */
  bias?: Tensor;
  /** out += x · Wᵀ instead of out = x · Wᵀ (fuses a residual add). */
  accumulate?: boolean;
  /** Force a path (tests, benchmarks); by default gemv for M <= GEMV_MAX_M, else gemm. */
  path?: 'gemv' | 'gemm';
  /** Force a gemv variant (tests, benchmarks); by default gemvVariant() picks from the device. */
  gemvVariant?: GemvVariant;
}

/** The two gemv kernels: 'subgroup' (matmul/gemv_sg: 4 weight rows per subgroup, subgroupAdd, no
 *  barrier; one activation row, F32 x) and 'workgroup' (matmul/gemv: 32 lanes per row, a workgroup
 *  reduction; any M <= GEMV_MAX_M). */
export type GemvVariant = 'subgroup' | 'workgroup';

/** The gemv kernel for M rows of x on this device: the subgroup one where it applies, else the
 *  workgroup one. Forcing 'subgroup' where it cannot run is a typed error, not a silent fallback. */
export function gemvVariant(gpu: Gpu, M: number, xDtype: DType, forced?: GemvVariant): GemvVariant {
  const fits = gpu.info.features.subgroups && M === 1 && xDtype === 'F32';
  if (forced === 'subgroup' && !fits) {
    if (!gpu.info.features.subgroups) throw new DeviceLimitError('subgroups', 'feature', 'absent', 'matmul subgroup gemv');
    throw new ShapeError('matmul', `the subgroup gemv takes one F32 row of x, got M = ${M} of ${xDtype}`, { M, x: xDtype });
  }
  return forced ?? (fits ? 'subgroup' : 'workgroup');
}

export function matmulWeightTypes(): DType[] {
  return Object.keys(MATMUL_WEIGHT_TYPES) as DType[];
}

/** The kernel for M rows: gemv up to GEMV_MAX_M, gemm above, unless forced. */
export function matmulPath(M: number, forced?: 'gemv' | 'gemm'): 'gemv' | 'gemm' {
  if (forced === 'gemv' && M > GEMV_MAX_M) throw new ShapeError('matmul', `gemv takes at most ${GEMV_MAX_M} rows, got M = ${M}`, { M });
  return forced ?? (M <= GEMV_MAX_M ? 'gemv' : 'gemm');
}

export function matmul(gpu: Gpu, rec: Recorder, x: Tensor, w: Tensor, out: Tensor, opts: MatmulOptions = {}): void {
  const op = 'matmul';
  const xF16 = activationDtype(gpu, op, { x }) === 'F16';
  const outF16 = activationDtype(gpu, op, { out }) === 'F16';
  if (outF16 && !xF16) throw new UnsupportedDtypeError(`${op} (out; an F16 out needs an F16 x)`, out.dtype, ['F32']);
  const wt = MATMUL_WEIGHT_TYPES[w.dtype];
  if (!wt) throw new UnsupportedDtypeError(`${op} (w)`, w.dtype, matmulWeightTypes());
  if (w.shape.length !== 2) throw new ShapeError(op, `w must be [N, K], got [${w.shape.join(', ')}]`, { w: w.shape });
  const [N, K] = w.shape;
  if (x.shape.length < 1 || x.shape[x.shape.length - 1] !== K) {
    throw new ShapeError(op, `x has shape [${x.shape.join(', ')}], its last dimension must be K = ${K} (w is [${N}, ${K}])`, { x: x.shape, w: w.shape });
  }
  const block = GGML_BLOCK[w.dtype as GgmlTypeName]!.blockSize; // every table type is a GGML type
  if (K % block !== 0) {
    throw new ShapeError(op, `K = ${K} is not a multiple of the ${w.dtype} block size ${block}`, { K, block, dtype: w.dtype });
  }
  const M = x.numel / K;
  if (out.shape[out.shape.length - 1] !== N || out.numel !== M * N) {
    throw new ShapeError(op, `out has shape [${out.shape.join(', ')}], expected ${M} rows of N = ${N}`, { out: out.shape, M, N });
  }
  if (opts.bias) {
    expectDtype(op, 'bias', opts.bias, ['F32']);
    if (opts.bias.numel !== N) throw new ShapeError(op, `bias has ${opts.bias.numel} elements, expected N = ${N}`, { bias: opts.bias.shape, N });
  }
  // out is written while x, w and bias are read (and bound read-only): they must be other buffers.
  expectNotAliased(op, out, { x, w, bias: opts.bias });
  gpu.checkBindingSize(`${op} x`, x.byteLength);
  gpu.checkBindingSize(`${op} w`, w.byteLength);
  gpu.checkBindingSize(`${op} out`, out.byteLength);
  if (M === 0 || N === 0) return;

  const path = matmulPath(M, opts.path);
  const flags = (opts.bias ? 1 : 0) | (opts.accumulate ? 2 : 0);
  // Without a bias the shader never reads binding 4; x stands in so the layout stays the same.
  const buffers = [x, w, out, opts.bias ?? x];
  if (path === 'gemv' && gemvVariant(gpu, M, x.dtype, opts.gemvVariant) === 'subgroup') {
    recordSubgroupGemv(gpu, rec, wt.include, N, K, flags, buffers);
    return;
  }
  const f16 = xF16 ? '_f16' : '';
  const kernel = gpu.kernel({
    shader: `matmul/${path}${f16}`,
    label: `matmul/${path}${f16}_${wt.include}${outF16 ? '_yf16' : ''}`,
    defines: {
      WTYPE: wt.include,
      X_VEC4: K % 4 === 0,
      X_ELEM: K % 4 === 0 ? (xF16 ? 'vec4<f16>' : 'vec4f') : xF16 ? 'f16' : 'f32',
      ...(xF16 ? { Y_F16: outF16 } : {}),
      ...(path === 'gemv' ? { MR: gemvRowBucket(M) } : {}),
    },
    params: ['M:u32', 'N:u32', 'K:u32', 'flags:u32'],
    bindings: ['read', 'read', 'write', 'read'],
  });
  const workgroups = path === 'gemv' ? grid(Math.ceil(N / 2)) : [Math.ceil(N / 64), Math.ceil(M / 64)] as const;
  rec.dispatch(kernel, { params: { M, N, K, flags }, buffers, workgroups });
}

/** One part of a weight stored as row ranges (a weight over the binding limit): rows [row0, row0 + N_part). */
export interface WeightPart {
  row0: number;
  t: Tensor;
}

/**
 * matmul for one row of x against a weight held as consecutive row parts (each its own buffer, e.g. a
 * 100k-token output projection over a 128 MiB binding limit): one matmul per part into its slice of out.
 * Each slice must start at a storage-offset-aligned byte, so every part but the last must hold a multiple
 * of minStorageBufferOffsetAlignment / 4 rows (the loader cuts them so).
 */
export function matmulRowParts(gpu: Gpu, rec: Recorder, x: Tensor, parts: readonly WeightPart[], out: Tensor, opts: Omit<MatmulOptions, 'path'> = {}): void {
  const op = 'matmul';
  if (parts.length === 1 && parts[0].row0 === 0) return matmul(gpu, rec, x, parts[0].t, out, opts);
  const K = parts[0]?.t.shape[1];
  const M = K ? x.numel / K : 0;
  if (M !== 1) throw new ShapeError(op, `a weight in row parts takes one row of x, got ${M} rows`, { x: x.shape, K });
  if (out.dtype !== 'F32') throw new UnsupportedDtypeError(`${op} (out of a weight in row parts)`, out.dtype, ['F32']);
  const align = gpu.limits.minStorageBufferOffsetAlignment;
  let next = 0;
  for (const p of parts) {
    const n = p.t.shape[0];
    if (p.row0 !== next || p.t.shape[1] !== K) {
      throw new ShapeError(op, `weight part at row ${p.row0} ([${p.t.shape.join(', ')}]) does not continue the parts before it (next row ${next}, K = ${K})`, { row0: p.row0, next });
    }
    if ((out.offset + p.row0 * 4) % align !== 0) {
      throw new ShapeError(op, `weight part at row ${p.row0}: its slice of out starts at byte ${out.offset + p.row0 * 4}, not a multiple of ${align}`, { row0: p.row0, align });
    }
    next += n;
  }
  if (out.numel !== next) throw new ShapeError(op, `out has ${out.numel} values, the weight parts ${next} rows`, { out: out.shape, N: next });
  for (const p of parts) {
    const n = p.t.shape[0];
    const slice = new Tensor(out.buffer, [1, n], 'F32', out.offset + p.row0 * 4, n * 4, `${out.label}[${p.row0}..]`);
    const bias = opts.bias ? new Tensor(opts.bias.buffer, [n], 'F32', opts.bias.offset + p.row0 * 4, n * 4, opts.bias.label) : undefined;
    matmul(gpu, rec, x, p.t, slice, { ...opts, bias });
  }
}

/** matmul/gemv_sg for one row: a 64-invocation workgroup covers 64 / SG_MIN groups of 4 weight rows.
 *  Q4_0 and Q8_0 take the whole-block word loop, the other formats w_load8. */
function recordSubgroupGemv(gpu: Gpu, rec: Recorder, include: string, N: number, K: number, flags: number, buffers: Tensor[]): void {
  const sgMin = Math.max(1, Math.min(64, gpu.info.subgroupMinSize ?? 4));
  const words = include === 'q4_0' || include === 'q8_0';
  const kernel = gpu.kernel({
    shader: 'matmul/gemv_sg',
    label: `matmul/gemv_sg_${include}`,
    defines: {
      WTYPE: include, SG_MIN: sgMin, X_VEC4: K % 4 === 0, X_ELEM: K % 4 === 0 ? 'vec4f' : 'f32',
      BLOCK_WORDS: words, Q4_0_WORDS: include === 'q4_0', Q8_0_WORDS: include === 'q8_0',
    },
    params: ['M:u32', 'N:u32', 'K:u32', 'flags:u32'],
    bindings: ['read', 'read', 'write', 'read'],
  });
  const rowsPerWorkgroup = (64 / sgMin) * 4;
  rec.dispatch(kernel, { params: { M: 1, N, K, flags }, buffers, workgroups: grid(Math.ceil(N / rowsPerWorkgroup)) });
}

/** gemv pipelines come in row buckets 1, 2, 4, 8 (accumulators are registers sized at compile time). */
function gemvRowBucket(M: number): number {
  return M <= 1 ? 1 : M <= 2 ? 2 : M <= 4 ? 4 : 8;
}

/** Bytes a matmul call must move (weights once, x, y, written and, when accumulating, read) and the
 *  FLOPs it does (one multiply and one add per weight and row), for the kernel benchmark. */
export function matmulCost(M: number, N: number, K: number, dtype: DType, opts: { bias?: boolean; accumulate?: boolean } = {}): { bytes: number; flops: number } {
  const bytes = dtypeByteSize(dtype, N * K) + 4 * M * K + 4 * M * N * (opts.accumulate ? 2 : 1) + (opts.bias ? 4 * N : 0);
  return { bytes, flops: 2 * M * N * K };
}
