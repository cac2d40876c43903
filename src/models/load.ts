// Load a language model from a parsed GGUF. Everything that can be refused is refused before the GPU
// is touched: hyperparameters, every tensor's presence, shape and type against them, the vocabulary
// against the embedding, and every buffer the model will take against the device's limits and an
// optional memory budget. Then each tensor is streamed from its source into a GPU buffer of its own,
// still quantized, in reads of at most `readChunkBytes`: a model never sits whole in CPU memory, even
// once, whatever its source (a path, a URL read by Range requests, a Blob).

import { EdgewiseError } from '../errors.ts';
import { byteSize, DeviceLimitError, GpuOutOfMemoryError } from '../gpu/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Gguf, GgufTensorInfo, GgufValue } from '../formats/gguf.ts';
import { GET_ROWS_TYPES } from '../kernels/get-rows.ts';
import { MAX_HEAD_DIM } from '../kernels/attention.ts';
import { MATMUL_WEIGHT_TYPES, matmulWeightTypes, type WeightPart } from '../kernels/matmul.ts';
import { readHparams, ModelConfigError, type LlmHparams } from './hparams.ts';
import { LanguageModel, languageModelBuffers, type LlmOptions, type WeightSet } from './llm.ts';

/** The model needs more GPU memory than the budget it was given (weights + KV cache + workspaces). */
export class ModelTooLargeError extends EdgewiseError {
  override name = 'ModelTooLargeError';
  constructor(readonly needBytes: number, readonly budgetBytes: number, readonly breakdown: { weights: number; kvCache: number; workspace: number }) {
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    super(
      `the model needs ${mib(needBytes)} of GPU memory (weights ${mib(breakdown.weights)}, KV cache ${mib(breakdown.kvCache)}, ` +
      `workspaces ${mib(breakdown.workspace)}) but the budget is ${mib(budgetBytes)}; use a smaller model, a smaller quantization or a shorter context`,
      { needBytes, budgetBytes, ...breakdown },
    );
  }
}

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
  const hp = readHparams(get, vocab);
  checkVocabulary(gguf, hp);
  return hp;
}

/**
 * The vocabulary size is the embedding's row count; the metadata must agree with it where it says one
 * (llama.cpp shapes token_embd from the token list, so a file where they differ fails there too).
 */
function checkVocabulary(gguf: Gguf, hp: LlmHparams): void {
  const rows = hp.vocabSize;
  const tokens = gguf.get('tokenizer.ggml.tokens');
  if (tokens?.type === 'array' && tokens.value.items.length !== rows) {
    throw new ModelConfigError(
      `the vocabulary has ${tokens.value.items.length} tokens (tokenizer.ggml.tokens) but token_embd.weight has ${rows} rows`,
      { key: 'tokenizer.ggml.tokens', tokens: tokens.value.items.length, embeddingRows: rows },
    );
  }
  const key = `${hp.arch.name}.vocab_size`;
  const declared = gguf.get(key);
  if (declared && Number(declared.value) !== rows) {
    throw new ModelConfigError(`${key} is ${String(declared.value)} but token_embd.weight has ${rows} rows`, { key, value: String(declared.value), embeddingRows: rows });
  }
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
  // The attention kernels' head sizes: refused here, not at the first forward pass after the upload.
  if (hp.headDim % 4 !== 0 || hp.headDim < 4 || hp.headDim > MAX_HEAD_DIM) {
    throw new ModelConfigError(`head dimension ${hp.headDim} is not supported by the attention kernels (a multiple of 4 from 4 to ${MAX_HEAD_DIM})`, { headDim: hp.headDim });
  }
  // Every layer has tensors of its own: a block count above the tensor count cannot be right, and
  // walking 2^32 layers of rules to say so would hang.
  if (hp.nLayer > gguf.tensors.length) {
    throw new ModelConfigError(`${hp.arch.name}.block_count is ${hp.nLayer} but the file holds only ${gguf.tensors.length} tensors`, { nLayer: hp.nLayer, tensors: gguf.tensors.length });
  }
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
    // The kernels that read each matrix: the embedding by row lookup (and by matmul when tied), the
    // rest by matmul. A type they lack would only fail at the first forward pass, after the upload.
    if (shape.length === 2) {
      const tied = name === 'token_embd.weight' && !gguf.tensor('output.weight');
      const needsMatmul = name !== 'token_embd.weight' || tied;
      if (name === 'token_embd.weight' && !(GET_ROWS_TYPES as readonly string[]).includes(t.type)) {
        throw new ModelConfigError(`tensor '${name}' is ${t.type}; embedding lookup supports ${GET_ROWS_TYPES.join(', ')}`, { tensor: name, type: t.type, supported: [...GET_ROWS_TYPES] });
      }
      if (needsMatmul && !MATMUL_WEIGHT_TYPES[t.type]) {
        throw new ModelConfigError(`tensor '${name}' is ${t.type}; matmul supports ${matmulWeightTypes().join(', ')}${tied ? ' (tied embeddings are also the output projection)' : ''}`, { tensor: name, type: t.type, supported: matmulWeightTypes() });
      }
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
  constructor(private readonly map: Map<string, Tensor>, private readonly split = new Map<string, WeightPart[]>()) {}
  get(name: string): Tensor {
    const t = this.map.get(name);
    if (!t) {
      if (this.split.has(name)) throw new ModelConfigError(`tensor '${name}' is held in ${this.split.get(name)!.length} row parts (over the device's binding limit); read it with parts()`, { tensor: name });
      throw new ModelConfigError(`tensor '${name}' is not loaded`, { tensor: name });
    }
    return t;
  }
  parts(name: string): readonly WeightPart[] {
    const list = this.split.get(name);
    return list ?? [{ row0: 0, t: this.get(name) }];
  }
  has(name: string): boolean {
    return this.map.has(name) || this.split.has(name);
  }
  get bytes(): number {
    let n = 0;
    for (const t of this.all()) n += t.byteLength;
    return n;
  }
  private *all(): Iterable<Tensor> {
    yield* this.map.values();
    for (const list of this.split.values()) for (const p of list) yield p.t;
  }
  destroy(): void {
    for (const t of this.all()) t.buffer.destroy();
    this.map.clear();
    this.split.clear();
  }
}

/** One GPU weight buffer: a whole tensor, or one part of a fused one, and where its bytes are. */
interface WeightPiece {
  name: string;
  shape: number[];
  info: GgufTensorInfo;
  /** Byte range within the tensor's data. */
  start: number;
  bytes: number;
  /** Set for a row part of a table too large for one binding: its first row. */
  row0?: number;
  /** Set when the buffer is two tensors back to back (ffn gate and up): the second one's bytes follow. */
  then?: { info: GgufTensorInfo; start: number; bytes: number };
}

/**
 * ffn_gate and ffn_up become one [gate; up] weight (phi3's file already stores it so), so the FFN's two
 * input projections are one matmul and the gated activation reads the halves of its output. Only where
 * both have one type, no biases, and the pair fits one binding; else they stay apart.
 */
function fuseGateUp(gguf: Gguf, hp: LlmHparams, pieces: WeightPiece[], partLimit: number): WeightPiece[] {
  const byName = new Map(pieces.map((p) => [p.name, p]));
  const drop = new Set<string>();
  const fused: WeightPiece[] = [];
  for (let l = 0; l < hp.nLayer; l++) {
    const p = `blk.${l}.`;
    const g = byName.get(`${p}ffn_gate.weight`), u = byName.get(`${p}ffn_up.weight`);
    if (!g || !u || g.then || u.then || g.row0 !== undefined || u.row0 !== undefined) continue;
    if (g.info.type !== u.info.type || g.shape[0] !== u.shape[0] || g.shape[1] !== u.shape[1]) continue;
    if (gguf.tensor(`${p}ffn_gate.bias`) || gguf.tensor(`${p}ffn_up.bias`) || g.bytes + u.bytes > partLimit) continue;
    drop.add(g.name).add(u.name);
    fused.push({ name: `${p}ffn_gate_up.weight`, shape: [2 * g.shape[0], g.shape[1]], info: g.info, start: g.start, bytes: g.bytes + u.bytes,
      then: { info: u.info, start: u.start, bytes: u.bytes } });
  }
  return [...pieces.filter((p) => !drop.has(p.name)), ...fused];
}

/** Tables that may be held in row parts (the vocabulary-sized ones; the kernels that read them take
 *  parts: the embedding lookup, and the one-row output matmul). */
const ROW_SPLITTABLE = new Set(['token_embd.weight', 'output.weight']);
/** Rows per part are a multiple of this, so each part's slice of the F32 logits starts at a multiple of
 *  256 bytes (the largest minStorageBufferOffsetAlignment WebGPU allows). */
const PART_ROW_ALIGN = 64;

/** The largest buffer a weight part may take on this device (and, for tests, a smaller cap). */
export function weightPartLimit(limits: { maxStorageBufferBindingSize: number; maxBufferSize: number }, cap = Infinity): number {
  return Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, cap);
}

function weightPieces(gguf: Gguf, hp: LlmHparams, partLimit = Infinity): WeightPiece[] {
  return fuseGateUp(gguf, hp, tensorPieces(gguf, hp, partLimit), partLimit);
}

function tensorPieces(gguf: Gguf, hp: LlmHparams, partLimit: number): WeightPiece[] {
  const out: WeightPiece[] = [];
  for (const info of gguf.tensors) {
    if (ROW_SPLITTABLE.has(info.name) && info.shape.length === 2 && info.byteLength > partLimit) {
      // A vocabulary table over the binding limit (Reka Edge's 100352-row output, gemma3's 262144 rows):
      // consecutive row ranges in buffers of their own. Too few aligned rows fit: left whole, and the
      // limit check names it.
      const [rows, cols] = info.shape;
      const rowBytes = info.byteLength / rows;
      const per = Math.floor(partLimit / rowBytes / PART_ROW_ALIGN) * PART_ROW_ALIGN;
      if (per > 0) {
        for (let row0 = 0; row0 < rows; row0 += per) {
          const n = Math.min(per, rows - row0);
          out.push({ name: info.name, shape: [n, cols], info, start: row0 * rowBytes, bytes: n * rowBytes, row0 });
        }
        continue;
      }
    }
    const parts = splitPlan(info, hp);
    if (!parts) {
      out.push({ name: info.name, shape: info.shape, info, start: 0, bytes: info.byteLength });
      continue;
    }
    // Rows of a weight are contiguous bytes in every format. 1-D (bias): rows of one value.
    const cols = info.shape.length === 2 ? info.shape[1] : 1;
    const rowBytes = info.byteLength / info.shape[0];
    let row = 0;
    for (const part of parts) {
      const shape = info.shape.length === 2 ? [part.rows, cols] : [part.rows];
      out.push({ name: part.name, shape, info, start: row * rowBytes, bytes: part.rows * rowBytes });
      row += part.rows;
    }
  }
  return out;
}

export interface GpuMemoryPlan {
  weights: number;
  kvCache: number;
  workspace: number;
  total: number;
  /** The largest single buffer and what it holds. */
  largest: { label: string; bytes: number };
}

/**
 * Every buffer the model will take, checked against the device before anything is allocated: each one
 * against maxStorageBufferBindingSize and maxBufferSize (DeviceLimitError naming the buffer), and the
 * total against `memoryBudget` when one is given (ModelTooLargeError with the breakdown).
 */
export function planGpuMemory(
  gguf: Gguf, hp: LlmHparams, llm: LlmOptions,
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number }, memoryBudget?: number, maxWeightPartBytes?: number,
): GpuMemoryPlan {
  const plan: GpuMemoryPlan = { weights: 0, kvCache: 0, workspace: 0, total: 0, largest: { label: '', bytes: 0 } };
  const check = (label: string, bytes: number) => {
    if (bytes > limits.maxStorageBufferBindingSize) throw new DeviceLimitError('maxStorageBufferBindingSize', bytes, limits.maxStorageBufferBindingSize, `${label}, checked before loading`);
    if (bytes > limits.maxBufferSize) throw new DeviceLimitError('maxBufferSize', bytes, limits.maxBufferSize, `${label}, checked before loading`);
    if (bytes > plan.largest.bytes) plan.largest = { label, bytes };
  };
  for (const p of weightPieces(gguf, hp, weightPartLimit(limits, maxWeightPartBytes))) {
    check(p.row0 === undefined ? p.name : `${p.name} rows ${p.row0}..${p.row0 + p.shape[0] - 1}`, p.bytes);
    plan.weights += p.bytes;
  }
  for (const b of languageModelBuffers(hp, llm)) {
    const bytes = b.bytes;
    check(b.label, bytes);
    if (b.label.startsWith('k_cache.') || b.label.startsWith('v_cache.')) plan.kvCache += bytes;
    else plan.workspace += bytes;
  }
  plan.total = plan.weights + plan.kvCache + plan.workspace;
  if (memoryBudget !== undefined && plan.total > memoryBudget) {
    throw new ModelTooLargeError(plan.total, memoryBudget, { weights: plan.weights, kvCache: plan.kvCache, workspace: plan.workspace });
  }
  return plan;
}

const DEFAULT_READ_CHUNK = 16 << 20;

/**
 * Stream every weight into its own GPU buffer, reading at most `readChunkBytes` (a multiple of 4) at
 * a time. Progress is reported after every read. On any failure every buffer made so far is destroyed.
 */
export async function uploadWeights(
  gpu: Gpu, gguf: Gguf, hp: LlmHparams, onProgress?: (p: LoadProgress) => void, readChunkBytes = DEFAULT_READ_CHUNK, maxWeightPartBytes?: number,
): Promise<GpuWeights> {
  if (!(Number.isSafeInteger(readChunkBytes) && readChunkBytes >= 4 && readChunkBytes % 4 === 0)) {
    throw new RangeError(`readChunkBytes ${readChunkBytes} must be a positive multiple of 4`);
  }
  const pieces = weightPieces(gguf, hp, weightPartLimit(gpu.limits, maxWeightPartBytes));
  const total = pieces.reduce((s, p) => s + p.bytes, 0);
  const map = new Map<string, Tensor>();
  const split = new Map<string, WeightPart[]>();
  let loaded = 0;
  try {
    for (const p of pieces) {
      const label = p.row0 === undefined ? p.name : `${p.name}[${p.row0}..]`;
      let t: Tensor;
      try {
        t = await gpu.allocateWeight(p.shape, p.info.type, label);
      } catch (e) {
        if (!(e instanceof GpuOutOfMemoryError)) throw e;
        throw new GpuOutOfMemoryError(label, p.bytes, e.reported, `the model's weights take ${byteSize(total)} and ${byteSize(loaded)} were placed before it; everything this load allocated has been freed`);
      }
      if (p.row0 === undefined) map.set(p.name, t);
      else {
        const list = split.get(p.name) ?? [];
        list.push({ row0: p.row0, t });
        split.set(p.name, list);
      }
      const first = p.then ? p.bytes - p.then.bytes : p.bytes;
      const sources: { info: GgufTensorInfo; start: number; base: number; len: number }[] = [{ info: p.info, start: p.start, base: 0, len: first }];
      if (p.then) sources.push({ info: p.then.info, start: p.then.start, base: first, len: p.then.bytes });
      for (const { info: srcInfo, start, base, len } of sources) {
        for (let at = 0; at < len; at += readChunkBytes) {
          const n = Math.min(readChunkBytes, len - at);
          const bytes = await gguf.readTensorRange(srcInfo, start + at, n);
          gpu.write(t, bytes, base + at);
          loaded += n;
          onProgress?.({ stage: 'weights', loadedBytes: loaded, totalBytes: total, tensor: p.name });
        }
      }
    }
  } catch (e) {
    for (const t of map.values()) t.buffer.destroy();
    for (const list of split.values()) for (const p of list) p.t.buffer.destroy();
    throw e;
  }
  return new GpuWeights(map, split);
}

export interface LoadedModel {
  model: LanguageModel;
  weights: GpuWeights;
  hparams: LlmHparams;
  memory: GpuMemoryPlan;
}

export interface LoadOptions extends Partial<LlmOptions> {
  /** Refuse the model before uploading anything when weights + KV cache + workspaces exceed this many
   *  bytes. WebGPU reports no memory size, so the caller sets it (default: only the per-buffer limits). */
  memoryBudget?: number;
  /** Largest read from the source while uploading (default 16 MiB; a multiple of 4). */
  readChunkBytes?: number;
  /** Cut vocabulary tables into row parts of at most this many bytes even below the device limits
   *  (tests of the split path on small models). */
  maxWeightPartBytes?: number;
}

/**
 * Every check that needs no GPU: hyperparameters, vocabulary, tensors (presence, shapes, types).
 * Throws ModelConfigError / UnsupportedArchitectureError / GgufFormatError.
 */
export function checkLanguageModel(gguf: Gguf): LlmHparams {
  const hp = ggufHparams(gguf);
  checkModelTensors(gguf, hp);
  return hp;
}

export async function loadLanguageModel(gpu: Gpu, gguf: Gguf, opts: LoadOptions = {}, onProgress?: (p: LoadProgress) => void): Promise<LoadedModel> {
  const hp = checkLanguageModel(gguf);
  const llm: LlmOptions = {
    contextLength: Math.min(opts.contextLength ?? hp.nCtxTrain, hp.nCtxTrain),
    maxBatch: opts.maxBatch ?? 64,
    llamaCppActivationRounding: opts.llamaCppActivationRounding,
  };
  const memory = planGpuMemory(gguf, hp, llm, gpu.limits, opts.memoryBudget, opts.maxWeightPartBytes);
  const weights = await uploadWeights(gpu, gguf, hp, onProgress, opts.readChunkBytes, opts.maxWeightPartBytes);
  try {
    const rest = memory.kvCache + memory.workspace;
    const model = await gpu.checkedAllocation(`the KV cache and workspaces`, rest, () => new LanguageModel(gpu, hp, weights, llm), (m) => m.dispose());
    return { model, weights, hparams: hp, memory };
  } catch (e) {
    weights.destroy();
    if (e instanceof GpuOutOfMemoryError) {
      throw new GpuOutOfMemoryError(e.what, e.bytes, e.reported, `after the weights (${byteSize(memory.weights)}) were placed; the KV cache is ${byteSize(memory.kvCache)} for a context of ${llm.contextLength} (a shorter context needs less); everything this load allocated has been freed`);
    }
    throw e;
  }
}
