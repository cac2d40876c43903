// A "scripted" language model: a real llama GGUF whose greedy output is a chosen sequence of tokens, so
// the API's handling of what a model says (tool calls, stop strings, malformed output) can be tested end
// to end through the real loader, kernels and sampler, without a trained model.
//
// How: nEmbd equals the vocabulary size and token_embd is the identity, so the residual stream is the
// current token as a one-hot vector; every attention and FFN output weight is zero, so the stream passes
// the layer unchanged; output.weight is a transition table with output[next(i)][i] = 1, so the logits'
// argmax after token i is next(i). A script of distinct tokens t0 -> t1 -> ... is then followed exactly,
// and every token outside the script leads to t0.

import { gv, writeGguf, type GgufWriterTensor } from '../formats/gguf-writer.ts';
import { byteChars } from '../tokenizer/toy-vocab.ts';

export interface ScriptedModel {
  gguf: Uint8Array;
  /** The script's token ids, in order (the reply the model gives greedily after any prompt). */
  script: number[];
  vocab: string[];
}

/**
 * pieces: the reply as distinct text pieces, one token each; `control` pieces are control tokens (such
 * as Reka Edge's <tool_call>), `end` is the end-of-generation token appended after the last piece.
 */
export function scriptedModel(pieces: readonly { text: string; control?: boolean }[], end = '<|end|>'): ScriptedModel {
  const chars = byteChars();
  const enc = new TextEncoder();
  const spell = (s: string) => Array.from(enc.encode(s), (b) => chars[b]).join('');
  const vocab = [...chars];
  const types = vocab.map(() => 1);
  const script: number[] = [];
  for (const p of [...pieces, { text: end, control: true }]) {
    const text = p.control ? p.text : spell(p.text);
    if (vocab.includes(text)) throw new Error(`scriptedModel: piece ${JSON.stringify(p.text)} repeats a token; pieces must be distinct tokens`);
    script.push(vocab.length);
    vocab.push(text);
    types.push(p.control ? 3 : 1);
  }
  // Pad to a multiple of 32 so every width is block-friendly.
  while (vocab.length % 32) { vocab.push(`<|pad_${vocab.length}|>`); types.push(3); }
  const V = vocab.length, D = V;
  const next = (i: number) => { const at = script.indexOf(i); return at >= 0 && at + 1 < script.length ? script[at + 1] : script[0]; };
  const eye = new Float32Array(V * D);
  for (let i = 0; i < V; i++) eye[i * D + i] = 1;
  const out = new Float32Array(V * D);
  for (let i = 0; i < V; i++) out[next(i) * D + i] = 1;
  const zeros = (r: number, c: number) => new Float32Array(r * c);
  const ones = (n: number) => new Float32Array(n).fill(1);
  const nFf = 32;
  const tensors: GgufWriterTensor[] = [
    { name: 'token_embd.weight', shape: [V, D], type: 'F32', values: eye },
    { name: 'blk.0.attn_norm.weight', shape: [D], type: 'F32', values: ones(D) },
    { name: 'blk.0.attn_q.weight', shape: [D, D], type: 'F32', values: zeros(D, D) },
    { name: 'blk.0.attn_k.weight', shape: [D, D], type: 'F32', values: zeros(D, D) },
    { name: 'blk.0.attn_v.weight', shape: [D, D], type: 'F32', values: zeros(D, D) },
    { name: 'blk.0.attn_output.weight', shape: [D, D], type: 'F32', values: zeros(D, D) },
    { name: 'blk.0.ffn_norm.weight', shape: [D], type: 'F32', values: ones(D) },
    { name: 'blk.0.ffn_gate.weight', shape: [nFf, D], type: 'F32', values: zeros(nFf, D) },
    { name: 'blk.0.ffn_up.weight', shape: [nFf, D], type: 'F32', values: zeros(nFf, D) },
    { name: 'blk.0.ffn_down.weight', shape: [D, nFf], type: 'F32', values: zeros(D, nFf) },
    { name: 'output_norm.weight', shape: [D], type: 'F32', values: ones(D) },
    { name: 'output.weight', shape: [V, D], type: 'F32', values: out },
  ];
  const gguf = writeGguf({
    metadata: {
      'general.architecture': 'llama',
      'general.name': 'edgewise scripted model',
      'llama.context_length': gv.u32(256),
      'llama.embedding_length': gv.u32(D),
      'llama.block_count': gv.u32(1),
      'llama.feed_forward_length': gv.u32(nFf),
      'llama.attention.head_count': gv.u32(D / 32),
      'llama.attention.head_count_kv': gv.u32(D / 32),
      'llama.attention.layer_norm_rms_epsilon': gv.f32(1e-5),
      'llama.rope.dimension_count': gv.u32(32),
      'tokenizer.ggml.model': 'gpt2',
      'tokenizer.ggml.pre': 'default',
      'tokenizer.ggml.tokens': vocab,
      'tokenizer.ggml.token_type': gv.array('i32', types),
      'tokenizer.ggml.merges': [],
      'tokenizer.ggml.eos_token_id': gv.u32(script[script.length - 1]),
      'tokenizer.ggml.add_bos_token': gv.bool(false),
    },
    tensors,
  });
  return { gguf, script, vocab };
}
