// Random-weight GGUF language models of each supported architecture, laid out as llama.cpp's converter
// writes them (tensor names, row-major shapes, metadata keys), so llama.cpp loads them and the engine's
// forward pass can be compared with its own on every architecture without downloading a real model.
//
// The facts mirrored here, per architecture (llama.cpp src/models/<arch>.cpp):
// - llama: separate q/k/v, rope NORM; linear rope scaling through rope.scaling.{type,factor}; Llama-3
//   rope scaling is a rope_freqs tensor of nRot/2 frequency divisors (no scaling type is written).
// - qwen2: q/k/v biases; attn_output is [n_embd, n_embd], so nHead * headDim must equal nEmbd.
// - qwen3: per-head attn_q_norm / attn_k_norm [headDim]; headDim may differ from nEmbd / nHead.
// - gemma3: post_attention_norm / post_ffw_norm, q/k norms; norm weights are stored with the +1 already
//   added by the converter (so they sit around 1, like everyone else's); sliding-window layers in a
//   pattern with their own rope base (rope.freq_base_swa, default 10000) and no rope scaling.
// - phi3: one fused attn_qkv [q; k; v] and one ffn_up holding [gate; up] (2 * nFf rows); no ffn_gate.
// Vocabulary: a minimal SentencePiece ('llama') one: <unk> <s> </s>, the 256 byte tokens, then plain
// pieces up to the requested size. Tests feed token ids, so the pieces only need to be distinct.

import { writeGguf, gv, type GgufWriteSpec, type GgufWriterTensor, type GgufWriterValue } from '../formats/gguf-writer.ts';
import type { GgmlTypeName } from '../formats/ggml-types.ts';
import { GGML_BLOCK } from '../formats/ggml-types.ts';
import { llama3RopeFreqFactors } from '../kernels/rope.ts';
import { Rng } from './rng.ts';

export type RandomModelArch = 'llama' | 'qwen2' | 'qwen3' | 'gemma3' | 'phi3';

export type RandomRopeScaling =
  | { type: 'linear'; factor: number }
  /** Written as a rope_freqs tensor, as llama.cpp's converter does for Llama 3.1+. */
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalContext: number };

export interface RandomModelOptions {
  arch: RandomModelArch;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  /** Default nHead. */
  nHeadKv?: number;
  /** Default nEmbd / nHead; written as attention.key_length/value_length when it differs. */
  headDim?: number;
  nFf: number;
  /** At least 260: 3 specials + 256 bytes + one piece. */
  vocab: number;
  /** context_length. */
  ctx: number;
  /** Type of every matrix (token_embd and output included); norms, biases and rope factors stay F32. */
  weightType: GgmlTypeName;
  seed: number;
  /** Tied embeddings: no output.weight, the logits reuse token_embd (default false). */
  tied?: boolean;
  ropeBase?: number;
  ropeScaling?: RandomRopeScaling;
  rmsEps?: number;
  /** gemma3: window of the sliding-window layers (default 4), pattern (default 6: 5 local, 1 global). */
  slidingWindow?: number;
  swaPattern?: number;
  /** gemma3: rope base of the local layers; absent: llama.cpp's default 10000 applies. */
  ropeBaseSwa?: number;
  /** A vocabulary written instead of the minimal SentencePiece one: its tokenizer.* keys; `vocab` must
   *  equal its size. */
  vocabulary?: { size: number; metadata: Record<string, GgufWriterValue> };
  /** Multiplies the output projection (logit spread); default 2, which keeps top-1 gaps far above
   *  arithmetic noise so greedy decoding is a stable comparison. */
  logitGain?: number;
}

const PIECE = '\u2581';

/** What a tensor of the random model holds, so a writer can fill it another way (bench-sized files). */
export type RandomTensorRole = 'embedding' | 'matrix' | 'output' | 'norm' | 'bias' | 'rope_freqs';

/** One tensor of the plan: its layout, its role, and its values drawn from the model's Rng when asked
 *  (in plan order: the draws of randomModelSpec), so nothing is materialised until it is written. */
export interface RandomTensorPlan {
  name: string;
  shape: [number] | [number, number];
  type: GgmlTypeName;
  role: RandomTensorRole;
  /** Standard deviation of the values (matrices: gain / sqrt(cols); embedding 1; norms around 1). */
  std: number;
  values(rng: Rng): Float32Array;
}

export interface RandomModelPlan {
  metadata: Map<string, GgufWriterValue>;
  tensors: RandomTensorPlan[];
}

/** The GGUF as a writer spec, for tests that want to tamper with a tensor before writing. */
export function randomModelSpec(o: RandomModelOptions): GgufWriteSpec {
  const plan = randomModelPlan(o);
  const rng = new Rng(o.seed);
  const tensors: GgufWriterTensor[] = plan.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, values: t.values(rng) }));
  return { metadata: plan.metadata, tensors };
}

/** The model's metadata and tensor list without any tensor data. */
export function randomModelPlan(o: RandomModelOptions): RandomModelPlan {
  const { arch, nEmbd: D, nLayer, nHead, nFf, vocab: V } = o;
  const nHeadKv = o.nHeadKv ?? nHead;
  const hd = o.headDim ?? D / nHead;
  if (!Number.isInteger(hd) || hd <= 0 || hd % 2) throw new RangeError(`randomModel: head dim ${hd} must be a positive even integer`);
  if (nHead % nHeadKv) throw new RangeError(`randomModel: nHead ${nHead} is not a multiple of nHeadKv ${nHeadKv}`);
  if ((arch === 'qwen2' || arch === 'phi3') && nHead * hd !== D) {
    throw new RangeError(`randomModel: ${arch} needs nHead * headDim == nEmbd (llama.cpp shapes attn_output [n_embd, n_embd]), got ${nHead} * ${hd} vs ${D}`);
  }
  if (o.vocabulary ? V !== o.vocabulary.size : V < 260) {
    throw new RangeError(o.vocabulary
      ? `randomModel: vocab ${V} differs from the ${o.vocabulary.size} tokens of the given vocabulary`
      : `randomModel: vocab ${V} is below the 260 tokens of the minimal vocabulary`);
  }
  const block = GGML_BLOCK[o.weightType]?.blockSize;
  if (!block) throw new RangeError(`randomModel: no block layout for ${o.weightType}`);
  for (const [what, k] of [['nEmbd', D], ['nHead * headDim', nHead * hd], ['nFf', nFf]] as const) {
    if (k % block) throw new RangeError(`randomModel: ${what} = ${k} is not a multiple of the ${o.weightType} block of ${block}`);
  }

  const tensors: RandomTensorPlan[] = [];
  const matrix = (name: string, rows: number, cols: number, gain = 1, role: RandomTensorRole = 'matrix') => {
    const std = gain / Math.sqrt(cols);
    tensors.push({ name, shape: [rows, cols], type: o.weightType, role, std, values: (rng) => rng.f32(rows * cols, std) });
  };
  const vector = (name: string, n: number, role: RandomTensorRole, std: number, values: (rng: Rng) => Float32Array) =>
    tensors.push({ name, shape: [n], type: 'F32', role, std, values });
  const norm = (name: string, n: number) => vector(name, n, 'norm', 0.2, (rng) => Float32Array.from(rng.f32(n, 0.2), (x) => 1 + x));
  const bias = (name: string, n: number) => vector(name, n, 'bias', 0.5, (rng) => rng.f32(n, 0.5));

  const nq = nHead * hd, nkv = nHeadKv * hd;
  tensors.push({ name: 'token_embd.weight', shape: [V, D], type: o.weightType, role: 'embedding', std: 1, values: (rng) => rng.f32(V * D, 1) });
  for (let l = 0; l < nLayer; l++) {
    const p = `blk.${l}.`;
    norm(`${p}attn_norm.weight`, D);
    if (arch === 'phi3') {
      matrix(`${p}attn_qkv.weight`, nq + 2 * nkv, D);
    } else {
      matrix(`${p}attn_q.weight`, nq, D);
      matrix(`${p}attn_k.weight`, nkv, D);
      matrix(`${p}attn_v.weight`, nkv, D);
    }
    if (arch === 'qwen2') {
      bias(`${p}attn_q.bias`, nq);
      bias(`${p}attn_k.bias`, nkv);
      bias(`${p}attn_v.bias`, nkv);
    }
    if (arch === 'qwen3' || arch === 'gemma3') {
      norm(`${p}attn_q_norm.weight`, hd);
      norm(`${p}attn_k_norm.weight`, hd);
    }
    matrix(`${p}attn_output.weight`, D, nq);
    if (arch === 'gemma3') norm(`${p}post_attention_norm.weight`, D);
    norm(`${p}ffn_norm.weight`, D);
    if (arch === 'phi3') {
      matrix(`${p}ffn_up.weight`, 2 * nFf, D);
    } else {
      matrix(`${p}ffn_gate.weight`, nFf, D);
      matrix(`${p}ffn_up.weight`, nFf, D);
    }
    matrix(`${p}ffn_down.weight`, D, nFf);
    if (arch === 'gemma3') norm(`${p}post_ffw_norm.weight`, D);
  }
  norm('output_norm.weight', D);
  if (!o.tied) matrix('output.weight', V, D, o.logitGain ?? 2, 'output');

  const meta = new Map<string, GgufWriterValue>();
  const k = (key: string, v: GgufWriterValue) => meta.set(`${arch}.${key}`, v);
  meta.set('general.architecture', arch);
  // Not the architecture's name: llama.cpp keys vocabulary quirks on general.name ("phi3" wants <|endoftext|>).
  meta.set('general.name', `edgewise random-weight model ${o.seed}`);
  k('context_length', gv.u32(o.ctx));
  k('embedding_length', gv.u32(D));
  k('block_count', gv.u32(nLayer));
  k('feed_forward_length', gv.u32(nFf));
  k('attention.head_count', gv.u32(nHead));
  k('attention.head_count_kv', gv.u32(nHeadKv));
  if (hd !== D / nHead) {
    k('attention.key_length', gv.u32(hd));
    k('attention.value_length', gv.u32(hd));
  }
  k('attention.layer_norm_rms_epsilon', gv.f32(o.rmsEps ?? 1e-6));
  k('rope.freq_base', gv.f32(o.ropeBase ?? 10000));
  k('rope.dimension_count', gv.u32(hd));
  const rs = o.ropeScaling;
  if (rs?.type === 'linear') {
    k('rope.scaling.type', 'linear');
    k('rope.scaling.factor', gv.f32(rs.factor));
  } else if (rs?.type === 'llama3') {
    if (arch !== 'llama') throw new RangeError(`randomModel: llama3 rope scaling is a llama feature, not ${arch}'s`);
    const factors = llama3RopeFreqFactors({
      factor: rs.factor, lowFreqFactor: rs.lowFreqFactor, highFreqFactor: rs.highFreqFactor,
      originalMaxPositionEmbeddings: rs.originalContext, nDims: hd, freqBase: o.ropeBase ?? 10000,
    });
    vector('rope_freqs.weight', hd / 2, 'rope_freqs', 0, () => factors);
  }
  if (arch === 'gemma3') {
    k('attention.sliding_window', gv.u32(o.slidingWindow ?? 4));
    if (o.swaPattern !== undefined) k('attention.sliding_window_pattern', gv.u32(o.swaPattern));
    if (o.ropeBaseSwa !== undefined) k('rope.freq_base_swa', gv.f32(o.ropeBaseSwa));
  }

  if (o.vocabulary) {
    for (const [key, v] of Object.entries(o.vocabulary.metadata)) meta.set(key, v);
    return { metadata: meta, tensors };
  }
  // Tokenizer: ids 0..2 specials, 3..258 bytes, then pieces.
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  const types: number[] = [2, 3, 3]; // UNKNOWN, CONTROL, CONTROL
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6); // BYTE
  }
  for (let i = 0; tokens.length < V; i++) {
    tokens.push(`${PIECE}${pieceName(i)}`);
    types.push(1); // NORMAL
  }
  meta.set('tokenizer.ggml.model', 'llama');
  meta.set('tokenizer.ggml.tokens', tokens);
  meta.set('tokenizer.ggml.scores', gv.array('f32', tokens.map((_, i) => (types[i] === 1 ? -i : 0))));
  meta.set('tokenizer.ggml.token_type', gv.array('i32', types));
  meta.set('tokenizer.ggml.bos_token_id', gv.u32(1));
  meta.set('tokenizer.ggml.eos_token_id', gv.u32(2));
  meta.set('tokenizer.ggml.unknown_token_id', gv.u32(0));
  meta.set('tokenizer.ggml.add_bos_token', gv.bool(true));
  return { metadata: meta, tensors };
}

/** The GGUF bytes of a random-weight model. */
export function writeRandomModel(o: RandomModelOptions): Uint8Array {
  return writeGguf(randomModelSpec(o));
}

/** a, b, ..., z, ba, bb, ...: distinct lower-case words. */
function pieceName(i: number): string {
  let s = '';
  do {
    s = String.fromCharCode(97 + (i % 26)) + s;
    i = Math.floor(i / 26);
  } while (i > 0);
  return s;
}
