// Hyperparameters of a language model, read from GGUF metadata (`<arch>.*` keys) and checked against
// each other before anything is allocated on the GPU.

import { EdgewiseError } from '../gpu/errors.ts';
import { ARCHITECTURES, type ArchSpec } from './architectures.ts';

export class ModelConfigError extends EdgewiseError {
  override name = 'ModelConfigError';
}

export class UnsupportedArchitectureError extends EdgewiseError {
  override name = 'UnsupportedArchitectureError';
  constructor(readonly arch: string) {
    super(`architecture '${arch}' is not supported (supported: ${Object.keys(ARCHITECTURES).join(', ')})`, { arch, supported: Object.keys(ARCHITECTURES) });
  }
}

export interface RopeScaling {
  type: 'none' | 'linear' | 'yarn' | 'llama3';
  factor: number;
  originalContext: number;
  yarnBetaFast: number;
  yarnBetaSlow: number;
  yarnExtFactor: number;
  yarnAttnFactor: number;
}

export interface LlmHparams {
  arch: ArchSpec;
  nLayer: number;
  nEmbd: number;
  nFf: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  nCtxTrain: number;
  rmsEps: number;
  ropeBase: number;
  ropeDims: number;
  ropeScaling: RopeScaling;
  vocabSize: number;
  /** Window of the sliding-window layers (0: none). */
  slidingWindow: number;
  /** Per layer: true where attention is local (sliding window, its own rope base, no rope scaling). */
  swaLayers: boolean[];
  /** Rope base of the local layers. */
  ropeBaseSwa: number;
  /** Multiplies q·k before the softmax. */
  attnScale: number;
  finalLogitSoftcap: number;
  attnLogitSoftcap: number;
}

/** Far above any real model (the largest have ~130 layers); a block_count beyond it is corrupt. */
const MAX_LAYERS = 1 << 12;

/** Metadata lookup: returns undefined for a missing key. */
export type MetaGet = (key: string) => unknown;

function num(get: MetaGet, key: string, fallback?: number): number {
  const v = get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new ModelConfigError(`metadata key ${key} is missing`, { key });
  }
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new ModelConfigError(`metadata key ${key} should be a number, got ${typeof v}`, { key, value: String(v) });
  return n;
}

export function readHparams(get: MetaGet, vocabSize: number): LlmHparams {
  const archName = String(get('general.architecture') ?? '');
  // Own keys only: a file naming its architecture 'constructor' or 'toString' must not find Object's.
  const arch = Object.hasOwn(ARCHITECTURES, archName) ? ARCHITECTURES[archName] : undefined;
  if (!arch) throw new UnsupportedArchitectureError(archName || '(missing general.architecture)');
  const k = (s: string) => `${archName}.${s}`;
  const nEmbd = num(get, k('embedding_length'));
  const nHead = num(get, k('attention.head_count'));
  const ffRaw = get(k('feed_forward_length'));
  const nFf = ArrayLike(ffRaw) ? perLayerFf(ffRaw as ArrayLike<number | bigint>, k('feed_forward_length')) : num(get, k('feed_forward_length'));
  const headDim = num(get, k('attention.key_length'), nEmbd / nHead);
  // llama.cpp: the type defaults to linear (so a bare rope.scaling.factor scales linearly), a missing or
  // zero factor means 1, 'none' never scales, and any other name is refused. 'llama3' is ours: llama.cpp
  // has no such type (its converter writes a rope_freqs tensor), but a GGUF that names it gets the
  // factors computed.
  const scalingType = String(get(k('rope.scaling.type')) ?? 'linear');
  if (!['none', 'linear', 'yarn', 'llama3'].includes(scalingType)) {
    throw new ModelConfigError(`rope scaling type '${scalingType}' is not supported (supported: none, linear, yarn, llama3)`, { key: k('rope.scaling.type'), value: scalingType });
  }
  const scalingFactor = num(get, k('rope.scaling.factor'), 0) || 1;
  const hp: LlmHparams = {
    arch,
    nLayer: num(get, k('block_count')),
    nEmbd,
    nFf,
    nHead,
    nHeadKv: num(get, k('attention.head_count_kv'), nHead),
    headDim,
    nCtxTrain: num(get, k('context_length'), 2048),
    rmsEps: num(get, k('attention.layer_norm_rms_epsilon'), 1e-5),
    ropeBase: num(get, k('rope.freq_base'), 10000),
    ropeDims: num(get, k('rope.dimension_count'), headDim),
    ropeScaling: {
      type: (scalingType === 'none' || (scalingType === 'linear' && scalingFactor === 1) ? 'none' : scalingType) as RopeScaling['type'],
      factor: scalingType === 'none' ? 1 : scalingFactor,
      originalContext: num(get, k('rope.scaling.original_context_length'), num(get, k('context_length'), 2048)),
      yarnBetaFast: num(get, k('rope.scaling.yarn_beta_fast'), 32),
      yarnBetaSlow: num(get, k('rope.scaling.yarn_beta_slow'), 1),
      yarnExtFactor: num(get, k('rope.scaling.yarn_ext_factor'), scalingType === 'yarn' ? 1 : 0),
      yarnAttnFactor: num(get, k('rope.scaling.attn_factor'), 1),
    },
    vocabSize,
    slidingWindow: 0,
    swaLayers: [],
    ropeBaseSwa: num(get, k('rope.freq_base_swa'), arch.swa?.ropeBase ?? 10000),
    attnScale: 0,
    // Only the architectures whose llama.cpp graph applies them read these keys.
    finalLogitSoftcap: arch.finalLogitSoftcap ? num(get, k('final_logit_softcapping'), 0) : 0,
    attnLogitSoftcap: 0,
  };
  const bad = (msg: string, details: Record<string, unknown>) => { throw new ModelConfigError(msg, details); };
  for (const key of ['nLayer', 'nEmbd', 'nFf', 'nHead', 'nHeadKv', 'headDim', 'vocabSize', 'nCtxTrain', 'ropeDims'] as const) {
    if (!Number.isInteger(hp[key]) || hp[key] <= 0) bad(`${key} must be a positive integer, got ${hp[key]}`, { [key]: hp[key] });
  }
  // Checked before the per-layer lists below are built: a corrupt block_count of 2^32 - 1 must not
  // allocate them.
  if (hp.nLayer > MAX_LAYERS) bad(`${k('block_count')} is ${hp.nLayer}, more than the ${MAX_LAYERS} layers any model has`, { key: k('block_count'), nLayer: hp.nLayer });
  hp.attnScale = arch.attentionScale ? arch.attentionScale(hp) : 1 / Math.sqrt(headDim);
  const window = arch.swa ? num(get, k('attention.sliding_window'), 0) : 0;
  if (arch.swa && window > 0) {
    hp.slidingWindow = window;
    hp.swaLayers = swaPattern(get(k('attention.sliding_window_pattern')), arch.swa.pattern, hp.nLayer, k('attention.sliding_window_pattern'));
  } else {
    hp.swaLayers = new Array<boolean>(hp.nLayer).fill(false);
  }
  if (hp.nHead % hp.nHeadKv !== 0) bad(`head_count ${hp.nHead} is not a multiple of head_count_kv ${hp.nHeadKv}`, { nHead: hp.nHead, nHeadKv: hp.nHeadKv });
  if (hp.finalLogitSoftcap > 0) {
    bad(`final logit softcapping (${k('final_logit_softcapping')} = ${hp.finalLogitSoftcap}) is not implemented`, { key: k('final_logit_softcapping'), value: hp.finalLogitSoftcap });
  }
  if (hp.ropeDims > hp.headDim || hp.ropeDims % 2) bad(`rope dimension ${hp.ropeDims} must be even and at most the head size ${hp.headDim}`, { ropeDims: hp.ropeDims, headDim: hp.headDim });
  return hp;
}

/** llama.cpp's layer pattern: one bool per layer, or a period n (layer il is local iff il % n < n - 1; 0: all local). */
function swaPattern(v: unknown, fallback: number, nLayer: number, key: string): boolean[] {
  if (ArrayLike(v)) {
    const a = Array.from(v as ArrayLike<unknown>, Boolean);
    if (a.length < nLayer) throw new ModelConfigError(`${key} has ${a.length} entries for ${nLayer} layers`, { key, entries: a.length, nLayer });
    return a.slice(0, nLayer);
  }
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ModelConfigError(`${key} should be a layer period, got ${String(v)}`, { key, value: String(v) });
  return Array.from({ length: nLayer }, (_, il) => n === 0 || il % n < n - 1);
}

/** A per-layer feed_forward_length list: one shared block needs every layer the same width. */
function perLayerFf(v: ArrayLike<number | bigint>, key: string): number {
  const widths = Array.from(v, Number);
  if (widths.some((w) => w !== widths[0])) {
    throw new ModelConfigError(`${key} differs between layers (${widths.slice(0, 8).join(', ')}${widths.length > 8 ? ', ...' : ''}); per-layer widths are not supported`, { key, widths: widths.slice(0, 64) });
  }
  return widths[0];
}

function ArrayLike(v: unknown): boolean {
  return Array.isArray(v) || ArrayBuffer.isView(v);
}
