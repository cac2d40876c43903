// Small vocabulary-only GGUF files for tokenizer tests, so byte-level BPE pre-tokenizers (and SentencePiece
// corner cases) can be compared with llama.cpp live without a real model: a byte-level BPE trained here
// (deterministically) on a given text, written with llama.cpp's keys, plus whatever special tokens a
// model family has.

import { gv, writeGguf, type GgufWriterValue } from '../formats/gguf-writer.ts';

/** GPT-2's byte -> printable character map. */
export function byteChars(): string[] {
  const out = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return out;
}

/**
 * Byte-level BPE trained on `text` split by `splitRegex`: the 256 byte characters, then `nMerges`
 * merges, each the most frequent adjacent pair (ties: the smaller pair in code-unit order).
 */
export function trainByteLevelBpe(text: string, splitRegex: RegExp, nMerges: number): { tokens: string[]; merges: string[] } {
  const chars = byteChars();
  const enc = new TextEncoder();
  const counts = new Map<string, number>();
  for (const w of text.match(splitRegex) ?? []) {
    const key = [...enc.encode(w)].map((b) => chars[b]).join('\u0000');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  let words = [...counts].map(([k, n]) => ({ syms: k.split('\u0000'), n }));
  const tokens = [...chars];
  const merges: string[] = [];
  for (let m = 0; m < nMerges; m++) {
    const pairs = new Map<string, number>();
    for (const { syms, n } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = `${syms[i]} ${syms[i + 1]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + n);
      }
    }
    let best = '', bestN = 0;
    for (const [k, n] of pairs) if (n > bestN || (n === bestN && k < best)) { best = k; bestN = n; }
    if (bestN < 2) break;
    const [l, r] = best.split(' ');
    merges.push(best);
    tokens.push(l + r);
    words = words.map(({ syms, n }) => {
      const out: string[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === l && syms[i + 1] === r) { out.push(l + r); i++; } else out.push(syms[i]);
      }
      return { syms: out, n };
    });
  }
  return { tokens, merges };
}

export interface ToyVocabSpec {
  model: 'gpt2' | 'llama';
  pre?: string;
  tokens: string[];
  /** GGUF token types (1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte); default all normal. */
  types?: number[];
  scores?: number[];
  merges?: string[];
  extra?: Record<string, GgufWriterValue>;
}

/** A vocabulary-only GGUF llama.cpp loads (with vocabOnly): a 'llama' architecture header and the tokenizer keys. */
export function toyVocabGguf(s: ToyVocabSpec): Uint8Array {
  const n = s.tokens.length;
  const metadata: Record<string, GgufWriterValue> = {
    'general.architecture': 'llama',
    'general.name': 'toy',
    'llama.context_length': gv.u32(256),
    'llama.embedding_length': gv.u32(8),
    'llama.block_count': gv.u32(1),
    'llama.feed_forward_length': gv.u32(16),
    'llama.attention.head_count': gv.u32(2),
    'llama.attention.layer_norm_rms_epsilon': gv.f32(1e-5),
    'tokenizer.ggml.model': s.model,
    'tokenizer.ggml.tokens': s.tokens,
    'tokenizer.ggml.token_type': gv.array('i32', s.types ?? new Array(n).fill(1)),
  };
  if (s.pre !== undefined) metadata['tokenizer.ggml.pre'] = s.pre;
  if (s.scores) metadata['tokenizer.ggml.scores'] = gv.array('f32', s.scores);
  if (s.merges) metadata['tokenizer.ggml.merges'] = s.merges;
  return writeGguf({ metadata: { ...metadata, ...s.extra } });
}
