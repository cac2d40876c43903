// Load a language model from a parsed GGUF: hyperparameters, then each tensor streamed from its source
// into a GPU buffer of its own, still quantized. Only one tensor's bytes are in CPU memory at a time.

import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Gguf, GgufValue } from '../formats/gguf.ts';
import { readHparams, ModelConfigError, type LlmHparams } from './hparams.ts';
import { LanguageModel, type LlmOptions, type WeightSet } from './llm.ts';

export interface LoadProgress {
  stage: 'weights';
  loadedBytes: number;
  totalBytes: number;
  tensor: string;
}

export function ggufMetaGet(gguf: Gguf): (key: string) => unknown {
  return (key) => unwrap(gguf.get(key));
}

function unwrap(v: GgufValue | undefined): unknown {
  if (!v) return undefined;
  if (v.type === 'array') return v.value.items;
  return v.value;
}

export function ggufHparams(gguf: Gguf): LlmHparams {
  const get = ggufMetaGet(gguf);
  const emb = gguf.tensor('token_embd.weight');
  if (!emb) throw new ModelConfigError("tensor 'token_embd.weight' is missing", { tensor: 'token_embd.weight' });
  const vocab = emb.shape[0];
  return readHparams(get, vocab);
}

/** Shapes every architecture needs, checked before any GPU allocation. */
function expectedShapes(hp: LlmHparams): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const { nEmbd: D, nHead, nHeadKv, headDim: hd, nFf, vocabSize: V } = hp;
  m.set('token_embd.weight', [V, D]);
  m.set('output_norm.weight', [D]);
  for (let l = 0; l < hp.nLayer; l++) {
    const p = `blk.${l}.`;
    m.set(`${p}attn_norm.weight`, [D]);
    m.set(`${p}attn_q.weight`, [nHead * hd, D]);
    m.set(`${p}attn_k.weight`, [nHeadKv * hd, D]);
    m.set(`${p}attn_v.weight`, [nHeadKv * hd, D]);
    m.set(`${p}attn_output.weight`, [D, nHead * hd]);
    m.set(`${p}ffn_norm.weight`, [D]);
    m.set(`${p}ffn_gate.weight`, [nFf, D]);
    m.set(`${p}ffn_up.weight`, [nFf, D]);
    m.set(`${p}ffn_down.weight`, [D, nFf]);
    if (hp.arch.qkNorm) {
      m.set(`${p}attn_q_norm.weight`, [hd]);
      m.set(`${p}attn_k_norm.weight`, [hd]);
    }
    if (hp.arch.postNorms) {
      m.set(`${p}post_attention_norm.weight`, [D]);
      m.set(`${p}post_ffw_norm.weight`, [D]);
    }
  }
  return m;
}

export function checkModelTensors(gguf: Gguf, hp: LlmHparams): void {
  for (const [name, shape] of expectedShapes(hp)) {
    const t = gguf.tensor(name);
    if (!t) throw new ModelConfigError(`tensor '${name}' is missing`, { tensor: name });
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ModelConfigError(`tensor '${name}' has shape [${t.shape.join(', ')}], the metadata implies [${shape.join(', ')}]`, { tensor: name, shape: t.shape, expected: shape });
    }
  }
  const out = gguf.tensor('output.weight');
  if (out && (out.shape[0] !== hp.vocabSize || out.shape[1] !== hp.nEmbd)) {
    throw new ModelConfigError(`tensor 'output.weight' has shape [${out.shape.join(', ')}], expected [${hp.vocabSize}, ${hp.nEmbd}]`, { tensor: 'output.weight' });
  }
}

export class GpuWeights implements WeightSet {
  constructor(private readonly map: Map<string, Tensor>) {}
  get(name: string): Tensor {
    const t = this.map.get(name);
    if (!t) throw new ModelConfigError(`tensor '${name}' is not loaded`, { tensor: name });
    return t;
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  get bytes(): number {
    let n = 0;
    for (const t of this.map.values()) n += t.byteLength;
    return n;
  }
  destroy(): void {
    for (const t of this.map.values()) t.buffer.destroy();
    this.map.clear();
  }
}

export async function uploadWeights(gpu: Gpu, gguf: Gguf, onProgress?: (p: LoadProgress) => void): Promise<GpuWeights> {
  const total = gguf.tensors.reduce((s, t) => s + t.byteLength, 0);
  const map = new Map<string, Tensor>();
  let loaded = 0;
  try {
    for (const info of gguf.tensors) {
      const bytes = await gguf.readTensorBytes(info);
      map.set(info.name, gpu.uploadWeight(bytes, info.shape, info.type, info.name));
      loaded += info.byteLength;
      onProgress?.({ stage: 'weights', loadedBytes: loaded, totalBytes: total, tensor: info.name });
    }
  } catch (e) {
    for (const t of map.values()) t.buffer.destroy();
    throw e;
  }
  return new GpuWeights(map);
}

export interface LoadedModel {
  model: LanguageModel;
  weights: GpuWeights;
  hparams: LlmHparams;
}

export async function loadLanguageModel(gpu: Gpu, gguf: Gguf, opts: Partial<LlmOptions> = {}, onProgress?: (p: LoadProgress) => void): Promise<LoadedModel> {
  const hp = ggufHparams(gguf);
  checkModelTensors(gguf, hp);
  const weights = await uploadWeights(gpu, gguf, onProgress);
  const model = new LanguageModel(gpu, hp, weights, {
    contextLength: Math.min(opts.contextLength ?? hp.nCtxTrain, hp.nCtxTrain),
    maxBatch: opts.maxBatch ?? 64,
    llamaCppActivationRounding: opts.llamaCppActivationRounding,
  });
  return { model, weights, hparams: hp };
}
