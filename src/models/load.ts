// Load a language model from a parsed GGUF: hyperparameters, then each tensor streamed from its source
// into a GPU buffer of its own, still quantized. Only one tensor's bytes are in CPU memory at a time.

import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Gguf, GgufTensorInfo, GgufValue } from '../formats/gguf.ts';
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

interface TensorRule {
  shape: number[];
  /** Absent tensors are fine (llama.cpp's TENSOR_NOT_REQUIRED). */
  optional?: boolean;
}

/** Every tensor the architecture may carry, with its shape; q/k/v come fused (attn_qkv) or separate. */
function tensorRules(hp: LlmHparams, fusedQkv: ReadonlySet<number>): Map<string, TensorRule> {
  const m = new Map<string, TensorRule>();
  const { arch, nEmbd: D, nHead, nHeadKv, headDim: hd, nFf, vocabSize: V } = hp;
  const nq = nHead * hd, nkv = nHeadKv * hd;
  const sizes: Record<string, number> = { 'rope_freqs.weight': hp.ropeDims / 2, 'output.bias': V };
  const layerSizes: Record<string, number> = { 'attn_output.bias': D, 'ffn_gate.bias': nFf, 'ffn_up.bias': nFf, 'ffn_down.bias': D };
  m.set('token_embd.weight', { shape: [V, D] });
  m.set('output_norm.weight', { shape: [D] });
  m.set('output.weight', { shape: [V, D], optional: true });
  for (const name of arch.optional.model) m.set(name, { shape: [sizes[name]], optional: true });
  for (let l = 0; l < hp.nLayer; l++) {
    const p = `blk.${l}.`;
    m.set(`${p}attn_norm.weight`, { shape: [D] });
    if (fusedQkv.has(l)) {
      m.set(`${p}attn_qkv.weight`, { shape: [nq + 2 * nkv, D] });
      m.set(`${p}attn_qkv.bias`, { shape: [nq + 2 * nkv], optional: true });
    } else {
      m.set(`${p}attn_q.weight`, { shape: [nq, D] });
      m.set(`${p}attn_k.weight`, { shape: [nkv, D] });
      m.set(`${p}attn_v.weight`, { shape: [nkv, D] });
    }
    m.set(`${p}attn_q.bias`, { shape: [nq], optional: true });
    m.set(`${p}attn_k.bias`, { shape: [nkv], optional: true });
    m.set(`${p}attn_v.bias`, { shape: [nkv], optional: true });
    m.set(`${p}attn_output.weight`, { shape: [D, nq] });
    m.set(`${p}ffn_norm.weight`, { shape: [D] });
    if (arch.fusedGateUp) {
      m.set(`${p}ffn_up.weight`, { shape: [2 * nFf, D] });
    } else {
      m.set(`${p}ffn_gate.weight`, { shape: [nFf, D] });
      m.set(`${p}ffn_up.weight`, { shape: [nFf, D] });
    }
    m.set(`${p}ffn_down.weight`, { shape: [D, nFf] });
    if (arch.qkNorm) {
      m.set(`${p}attn_q_norm.weight`, { shape: [hd] });
      m.set(`${p}attn_k_norm.weight`, { shape: [hd] });
    }
    if (arch.postNorms) {
      m.set(`${p}post_attention_norm.weight`, { shape: [D] });
      m.set(`${p}post_ffw_norm.weight`, { shape: [D] });
    }
    for (const name of arch.optional.layer) m.set(p + name, { shape: [layerSizes[name]], optional: true });
  }
  return m;
}

function fusedQkvLayers(gguf: Gguf, hp: LlmHparams): Set<number> {
  const s = new Set<number>();
  for (let l = 0; l < hp.nLayer; l++) if (gguf.tensor(`blk.${l}.attn_qkv.weight`)) s.add(l);
  return s;
}

/**
 * Every tensor the forward pass reads is present with the shape the metadata implies, and nothing is
 * left over that it would silently ignore (llama.cpp refuses leftovers too). Throws ModelConfigError;
 * touches no GPU.
 */
export function checkModelTensors(gguf: Gguf, hp: LlmHparams): void {
  const rules = tensorRules(hp, fusedQkvLayers(gguf, hp));
  for (const [name, rule] of rules) {
    const t = gguf.tensor(name);
    if (!t) {
      if (rule.optional) continue;
      throw new ModelConfigError(`tensor '${name}' is missing (architecture ${hp.arch.name})`, { tensor: name, arch: hp.arch.name });
    }
    const shape = rule.shape;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ModelConfigError(`tensor '${name}' has shape [${t.shape.join(', ')}], the metadata implies [${shape.join(', ')}]`, { tensor: name, shape: t.shape, expected: shape });
    }
    if (shape.length === 1 && t.type !== 'F32') {
      throw new ModelConfigError(`tensor '${name}' is ${t.type}; norm weights, biases and rope factors must be F32`, { tensor: name, type: t.type });
    }
  }
  const unused = gguf.tensors.filter((t) => !rules.has(t.name)).map((t) => t.name);
  if (unused.length) {
    throw new ModelConfigError(`${unused.length} tensor(s) this engine's ${hp.arch.name} does not use: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', ...' : ''}`, { unused, arch: hp.arch.name });
  }
}

/**
 * Fused tensors are uploaded as their parts (rows of a weight are contiguous bytes in every format), so
 * the forward pass sees one layout: attn_qkv -> attn_q/k/v (weight and bias), and a [gate; up] ffn_up
 * (fusedGateUp) -> ffn_gate + ffn_up. Each output element is the same dot product as in the fused matmul.
 */
function splitPlan(info: GgufTensorInfo, hp: LlmHparams): { name: string; rows: number }[] | null {
  const m = /^(blk\.\d+\.)(attn_qkv|ffn_up)\.(weight|bias)$/.exec(info.name);
  if (!m) return null;
  const [, p, what, kind] = m;
  if (what === 'attn_qkv') {
    const nq = hp.nHead * hp.headDim, nkv = hp.nHeadKv * hp.headDim;
    return [{ name: `${p}attn_q.${kind}`, rows: nq }, { name: `${p}attn_k.${kind}`, rows: nkv }, { name: `${p}attn_v.${kind}`, rows: nkv }];
  }
  if (hp.arch.fusedGateUp && kind === 'weight') return [{ name: `${p}ffn_gate.weight`, rows: hp.nFf }, { name: `${p}ffn_up.weight`, rows: hp.nFf }];
  return null;
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

export async function uploadWeights(gpu: Gpu, gguf: Gguf, hp: LlmHparams, onProgress?: (p: LoadProgress) => void): Promise<GpuWeights> {
  const total = gguf.tensors.reduce((s, t) => s + t.byteLength, 0);
  const map = new Map<string, Tensor>();
  let loaded = 0;
  try {
    for (const info of gguf.tensors) {
      const bytes = await gguf.readTensorBytes(info);
      const parts = splitPlan(info, hp);
      if (parts) {
        // 1-D (bias): rows of one value; 2-D: rows of shape[1] values.
        const cols = info.shape.length === 2 ? info.shape[1] : 1;
        const rowBytes = bytes.byteLength / info.shape[0];
        let row = 0;
        for (const part of parts) {
          const shape = info.shape.length === 2 ? [part.rows, cols] : [part.rows];
          map.set(part.name, gpu.uploadWeight(bytes.subarray(row * rowBytes, (row + part.rows) * rowBytes), shape, info.type, part.name));
          row += part.rows;
        }
      } else {
        map.set(info.name, gpu.uploadWeight(bytes, info.shape, info.type, info.name));
      }
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
  const weights = await uploadWeights(gpu, gguf, hp, onProgress);
  const model = new LanguageModel(gpu, hp, weights, {
    contextLength: Math.min(opts.contextLength ?? hp.nCtxTrain, hp.nCtxTrain),
    maxBatch: opts.maxBatch ?? 64,
    llamaCppActivationRounding: opts.llamaCppActivationRounding,
  });
  return { model, weights, hparams: hp };
}
