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
  slidingWindow: number;
  finalLogitSoftcap: number;
  attnLogitSoftcap: number;
}

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
  const arch = ARCHITECTURES[archName];
  if (!arch) throw new UnsupportedArchitectureError(archName || '(missing general.architecture)');
  const k = (s: string) => `${archName}.${s}`;
  const nEmbd = num(get, k('embedding_length'));
  const nHead = num(get, k('attention.head_count'));
  const ffRaw = get(k('feed_forward_length'));
  const nFf = ArrayLike(ffRaw) ? Number((ffRaw as ArrayLike<number>)[0]) : num(get, k('feed_forward_length'));
  const headDim = num(get, k('attention.key_length'), nEmbd / nHead);
  const scalingType = String(get(k('rope.scaling.type')) ?? 'none');
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
      type: (['linear', 'yarn', 'llama3'].includes(scalingType) ? scalingType : 'none') as RopeScaling['type'],
      factor: num(get, k('rope.scaling.factor'), 1),
      originalContext: num(get, k('rope.scaling.original_context_length'), num(get, k('context_length'), 2048)),
      yarnBetaFast: num(get, k('rope.scaling.yarn_beta_fast'), 32),
      yarnBetaSlow: num(get, k('rope.scaling.yarn_beta_slow'), 1),
      yarnExtFactor: num(get, k('rope.scaling.yarn_ext_factor'), scalingType === 'yarn' ? 1 : 0),
      yarnAttnFactor: num(get, k('rope.scaling.attn_factor'), 1),
    },
    vocabSize,
    slidingWindow: num(get, k('attention.sliding_window'), 0),
    finalLogitSoftcap: num(get, k('final_logit_softcapping'), 0),
    attnLogitSoftcap: num(get, k('attn_logit_softcapping'), 0),
  };
  const bad = (msg: string, details: Record<string, unknown>) => { throw new ModelConfigError(msg, details); };
  for (const key of ['nLayer', 'nEmbd', 'nFf', 'nHead', 'nHeadKv', 'headDim', 'vocabSize'] as const) {
    if (!Number.isInteger(hp[key]) || hp[key] <= 0) bad(`${key} must be a positive integer, got ${hp[key]}`, { [key]: hp[key] });
  }
  if (hp.nHead % hp.nHeadKv !== 0) bad(`head_count ${hp.nHead} is not a multiple of head_count_kv ${hp.nHeadKv}`, { nHead: hp.nHead, nHeadKv: hp.nHeadKv });
  if (hp.ropeDims > hp.headDim || hp.ropeDims % 2) bad(`rope dimension ${hp.ropeDims} must be even and at most the head size ${hp.headDim}`, { ropeDims: hp.ropeDims, headDim: hp.headDim });
  return hp;
}

function ArrayLike(v: unknown): boolean {
  return Array.isArray(v) || ArrayBuffer.isView(v);
}
