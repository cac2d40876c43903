// Rotary position embedding as llama.cpp applies it to Q and K: norm (adjacent pairs) and neox (halves)
// layouts, partial rotary, linear scaling, per-frequency factors (Llama-3 rope_freqs) and YaRN. The
// per-call constants are computed here; everything per position happens in the shader.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDtype, grid } from './common.ts';
import { activationDtype } from './f16.ts';

export interface RopeYarn {
  /** Weight of the extrapolated frequency inside the ramp (llama.cpp yarn_ext_factor; 0 disables YaRN). */
  extFactor: number;
  /** Magnitude scale applied to cos and sin (llama.cpp attn_factor). */
  attnFactor: number;
  betaFast: number;
  betaSlow: number;
  /** Context length the model was trained with (rope.scaling.original_context_length). */
  nCtxOrig: number;
}

export interface RopeOptions {
  /** norm rotates (x[2i], x[2i+1]); neox rotates (x[i], x[i + nDims/2]). */
  mode: 'norm' | 'neox';
  /** Rotary dims, even and at most headDim; the rest pass through unchanged. */
  nDims: number;
  /** theta base, e.g. 10000, 500000, 1e6. */
  freqBase: number;
  /** Linear scaling: 1/factor (default 1). */
  freqScale?: number;
  /** F32 with at least nDims/2 elements: frequency i is divided by freqFactors[i] (llama.cpp rope_freqs). */
  freqFactors?: Tensor;
  yarn?: RopeYarn;
  /** Element offset into out where the [T, nHead, headDim] result starts (e.g. a KV-cache slot). */
  outOffset?: number;
}

const OP = 'rope';
const WG = 64;

/** First and last pair index of YaRN's ramp, as ggml_rope_yarn_corr_dims computes them. */
export function yarnCorrDims(nDims: number, nCtxOrig: number, freqBase: number, betaFast: number, betaSlow: number): [number, number] {
  // the pair index whose wavelength fits nRot times into the original context
  const dim = (nRot: number) => (nDims * Math.log(nCtxOrig / (nRot * 2 * Math.PI))) / (2 * Math.log(freqBase));
  return [Math.max(0, Math.floor(dim(betaFast))), Math.min(nDims - 1, Math.ceil(dim(betaSlow)))];
}

/** freqScale and yarn options for a GGUF with rope.scaling.type = yarn, with llama.cpp's defaults
 *  (ext_factor 1, attn_factor 1, beta_fast 32, beta_slow 1). */
export function yarnParams(opts: {
  factor: number; originalContextLength: number; extFactor?: number; attnFactor?: number; betaFast?: number; betaSlow?: number;
}): { freqScale: number; yarn: RopeYarn } {
  return {
    freqScale: 1 / opts.factor,
    yarn: {
      extFactor: opts.extFactor ?? 1, attnFactor: opts.attnFactor ?? 1,
      betaFast: opts.betaFast ?? 32, betaSlow: opts.betaSlow ?? 1, nCtxOrig: opts.originalContextLength,
    },
  };
}

/** The rope_freqs tensor llama.cpp's converter writes for Llama-3.1/3.2 (rope_scaling type "llama3"),
 *  for GGUFs that lack it. Follows the converter's float32 arithmetic step by step. */
export function llama3RopeFreqFactors(opts: {
  factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number; nDims: number; freqBase: number;
}): Float32Array {
  const f = Math.fround;
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: ctx, nDims } = opts;
  const lowWavelen = ctx / low;
  const highWavelen = ctx / high;
  const out = new Float32Array(nDims / 2);
  for (let i = 0; i < nDims / 2; i++) {
    const freq = f(1 / f(Math.pow(opts.freqBase, f((2 * i) / nDims))));
    const wavelen = f((2 * Math.PI) / freq);
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = factor;
    else {
      const smooth = f(f(f(ctx / wavelen) - low) / (high - low));
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

function split(v: number): [number, number] {
  const hi = Math.fround(v);
  return [hi, Math.fround(v - hi)];
}

function expectPositive(name: string, v: number, details: Record<string, unknown> = {}): void {
  if (!(Number.isFinite(v) && v > 0)) throw new ShapeError(OP, `${name} must be a finite number > 0, got ${v}`, { [name]: v, ...details });
}

/** out[t, h, :] = x[t, h, :] rotated by positions[t]. out may be x (in place) or a larger buffer with
 *  outOffset, F32 or F16 (an F16 KV cache; needs no shader-f16); positions are U32 or I32 (exact for
 *  |p| < 2^24). With shader-f16, x may be F16 too (F16 activations): out is then F16, in place or not. */
export function rope(gpu: Gpu, rec: Recorder, x: Tensor, positions: Tensor, out: Tensor, opts: RopeOptions): void {
  const xF16 = activationDtype(gpu, OP, { x }) === 'F16';
  expectDtype(OP, 'positions', positions, ['U32', 'I32']);
  expectDtype(OP, xF16 ? 'out (x is F16)' : 'out', out, xF16 ? ['F16'] : ['F32', 'F16']);
  if (x.shape.length !== 3) throw new ShapeError(OP, `x has shape [${x.shape.join(', ')}], expected [T, nHead, headDim]`, { shape: x.shape });
  const [T, nHead, headDim] = x.shape;
  const { nDims } = opts;
  if (positions.numel !== T) throw new ShapeError(OP, `positions has ${positions.numel} elements, x has T = ${T} tokens`, { positions: positions.numel, T });
  if (!Number.isInteger(nDims) || nDims <= 0 || nDims % 2 !== 0 || nDims > headDim) {
    throw new ShapeError(OP, `nDims ${nDims} must be even, > 0 and <= headDim ${headDim}`, { nDims, headDim });
  }
  const outOffset = opts.outOffset ?? 0;
  if (!Number.isInteger(outOffset) || outOffset < 0) throw new ShapeError(OP, `outOffset ${outOffset} must be an integer >= 0`, { outOffset });
  if (opts.outOffset === undefined ? out.numel !== x.numel : out.numel < outOffset + x.numel) {
    throw new ShapeError(OP, `out has ${out.numel} elements, needs ${opts.outOffset === undefined ? '' : `${outOffset} + `}${x.numel}`, { out: out.numel, outOffset, x: x.numel });
  }
  expectPositive('freqBase', opts.freqBase);
  const freqScale = opts.freqScale ?? 1;
  expectPositive('freqScale', freqScale);
  const ff = opts.freqFactors;
  if (ff) {
    expectDtype(OP, 'freqFactors', ff, ['F32']);
    if (ff.numel < nDims / 2) throw new ShapeError(OP, `freqFactors has ${ff.numel} elements, needs nDims/2 = ${nDims / 2}`, { freqFactors: ff.numel, nDims });
    if (ff.buffer === out.buffer) throw new ShapeError(OP, 'freqFactors shares a GPU buffer with out');
  }
  if (positions.buffer === out.buffer) throw new ShapeError(OP, 'positions shares a GPU buffer with out');
  // F16 out from an F32 x: packed words (no shader-f16). From an F16 x: element-wise f16 stores.
  const outF16 = out.dtype === 'F16' && !xF16;
  if (outF16 && (nDims % 4 !== 0 || headDim % 2 !== 0 || outOffset % 2 !== 0)) {
    // F16 is written as u32 words, each by one lane: two consecutive pairs, rows starting on a word
    throw new ShapeError(OP, `F16 out needs nDims % 4 == 0, even headDim and even outOffset (nDims ${nDims}, headDim ${headDim}, outOffset ${outOffset})`, { nDims, headDim, outOffset });
  }
  const inPlace = x.buffer === out.buffer;
  if (inPlace && outF16) throw new ShapeError(OP, 'F16 out cannot share a GPU buffer with the F32 x');
  if (inPlace && !(x.offset === out.offset && outOffset === 0)) {
    throw new ShapeError(OP, `out shares a GPU buffer with x but not the same elements (x at byte ${x.offset}, out at byte ${out.offset} + element ${outOffset}); pass x itself for in place`, {
      xOffset: x.offset, outOffset: out.offset, elementOffset: outOffset,
    });
  }

  const base = Math.fround(opts.freqBase);
  const fs = Math.fround(freqScale);
  const y = opts.yarn;
  const ext = y ? Math.fround(y.extFactor) : 0;
  let corr: [number, number] = [0, 0];
  let mscale = y ? Math.fround(y.attnFactor) : 1;
  if (y && ext !== 0) {
    expectPositive('yarn.nCtxOrig', y.nCtxOrig);
    expectPositive('yarn.betaFast', y.betaFast);
    expectPositive('yarn.betaSlow', y.betaSlow);
    if (base === 1) throw new ShapeError(OP, 'YaRN needs freqBase != 1', { freqBase: base });
    corr = yarnCorrDims(nDims, y.nCtxOrig, base, Math.fround(y.betaFast), Math.fround(y.betaSlow));
    mscale *= 1 + 0.1 * Math.log(1 / fs);
  }

  // Lanes per token group: one lane per frequency pair, repeated over heads when pairs are few.
  // (F16 out: a lane takes two consecutive pairs.)
  const units = outF16 ? nDims / 4 : nDims / 2;
  const lanesPerPair = Math.max(1, Math.floor(WG / units));
  const headsPerGroup = Math.min(nHead, Math.max(4, lanesPerPair));
  const hStride = Math.min(headsPerGroup, lanesPerPair);
  const groupsPerTok = Math.ceil(nHead / headsPerGroup);
  const [tsHi, tsLo] = split(Math.pow(base, -2 / nDims));
  const [ipHi, ipLo] = split(1 / (2 * Math.PI));
  const [emsHi, emsLo] = split(ext * (1 - fs));

  const posI32 = positions.dtype === 'I32';
  const k = gpu.kernel({
    shader: 'rope',
    defines: {
      NEOX: opts.mode === 'neox', POS_I32: posI32, POS_T: posI32 ? 'i32' : 'u32', FREQ_FACTORS: !!ff, YARN: ext !== 0,
      INPLACE: inPlace, OUT_F16: outF16, OUT_T: outF16 ? 'u32' : xF16 ? 'f16' : 'f32', X_F16: xF16, X_T: xF16 ? 'f16' : 'f32',
    },
    params: [
      'nTok:u32', 'nHead:u32', 'headDim:u32', 'nDims:u32', 'groupsPerTok:u32', 'headsPerGroup:u32', 'hStride:u32', 'outOffset:u32',
      'invTwoPiHi:f32', 'invTwoPiLo:f32', 'thetaScaleHi:f32', 'thetaScaleLo:f32', 'freqScale:f32', 'extOneMinusScaleHi:f32', 'extOneMinusScaleLo:f32', 'corrLow:f32', 'corrHigh:f32', 'mscale:f32',
    ],
    bindings: inPlace ? (ff ? ['read', 'read', 'write'] : ['read', 'write']) : ff ? ['read', 'read', 'read', 'write'] : ['read', 'read', 'write'],
    label: `rope_${opts.mode}${inPlace ? '_inplace' : ''}${outF16 ? '_f16' : ''}${xF16 ? '_x16' : ''}`,
  });
  const buffers = [...(inPlace ? [] : [x]), positions, ...(ff ? [ff] : []), out];
  rec.dispatch(k, {
    params: {
      nTok: T, nHead, headDim, nDims, groupsPerTok, headsPerGroup, hStride, outOffset,
      invTwoPiHi: ipHi, invTwoPiLo: ipLo, thetaScaleHi: tsHi, thetaScaleLo: tsLo, freqScale: fs, extOneMinusScaleHi: emsHi, extOneMinusScaleLo: emsLo,
      corrLow: corr[0], corrHigh: corr[1], mscale,
    },
    buffers,
    workgroups: grid(T * groupsPerTok),
  });
}
