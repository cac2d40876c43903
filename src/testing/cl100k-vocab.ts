// The cl100k_base byte-level BPE vocabulary as GGUF tokenizer keys, built from js-tiktoken's rank table
// (the same ranks OpenAI's tiktoken ships), so Reka-Edge-shaped fixtures carry the real vocabulary and
// llama.cpp, our tokenizer and tiktoken itself can be compared on one file without downloading a model.
//
// GGUF byte-level BPE needs merges, tiktoken has only ranks: the merge that forms a token is found by
// running BPE on the token's bytes with only lower-ranked tokens allowed, which ends in exactly two parts
// (every multi-byte cl100k token is formed that way). Merges are listed in the rank order of the token
// they form, so merge priority equals tiktoken's rank priority.

import cl100k from 'js-tiktoken/ranks/cl100k_base';
import { gv, type GgufWriterValue } from '../formats/gguf-writer.ts';
import { byteChars } from '../tokenizer/toy-vocab.ts';
import { REKA_EDGE_TOKEN_TEXT, REKA_EDGE_TOKENS, REKA_EDGE_VOCAB_SIZE } from '../models/reka-edge.ts';

/** Rank -> bytes of cl100k_base's 100256 ordinary tokens. */
export function cl100kRanks(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const line of cl100k.bpe_ranks.split('\n')) {
    if (!line) continue;
    const [, offsetStr, ...toks] = line.split(' ');
    let rank = Number(offsetStr);
    for (const t of toks) {
      out[rank++] = Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
    }
  }
  for (let i = 0; i < out.length; i++) if (!out[i]) throw new Error(`cl100k ranks: rank ${i} missing`);
  return out;
}

const keyOf = (b: Uint8Array, from: number, to: number) => {
  let s = '';
  for (let i = from; i < to; i++) s += String.fromCharCode(b[i]);
  return s;
};

/** The two lower-ranked parts BPE merges into `bytes` (whose own rank is `rank`). */
function mergeParts(bytes: Uint8Array, rank: number, ranks: Map<string, number>): [string, string] {
  // Parts as [start, end) byte ranges; merge the adjacent pair of lowest rank below `rank` until none.
  let parts: [number, number][] = Array.from(bytes, (_, i) => [i, i + 1] as [number, number]);
  for (;;) {
    let best = -1, bestRank = rank;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = ranks.get(keyOf(bytes, parts[i][0], parts[i + 1][1]));
      if (r !== undefined && r < bestRank) { best = i; bestRank = r; }
    }
    if (best < 0) break;
    parts = [...parts.slice(0, best), [parts[best][0], parts[best + 1][1]], ...parts.slice(best + 2)];
  }
  if (parts.length !== 2) throw new Error(`cl100k: token ${rank} does not come from one merge (${parts.length} parts)`);
  return [keyOf(bytes, parts[0][0], parts[0][1]), keyOf(bytes, parts[1][0], parts[1][1])];
}

export interface Cl100kVocab {
  tokens: string[];
  types: number[];
  merges: string[];
}

let cached: { tokens: string[]; merges: string[] } | null = null;

/** cl100k_base's 100256 tokens in GGUF's byte-to-unicode spelling and its 100000 merges. */
export function cl100kBpe(): { tokens: string[]; merges: string[] } {
  if (cached) return cached;
  const byRank = cl100kRanks();
  const ranks = new Map<string, number>();
  byRank.forEach((b, r) => ranks.set(keyOf(b, 0, b.length), r));
  const chars = byteChars();
  const spell = (latin1: string) => Array.from(latin1, (c) => chars[c.charCodeAt(0)]).join('');
  const tokens = byRank.map((b) => spell(keyOf(b, 0, b.length)));
  const merges: string[] = [];
  byRank.forEach((b, r) => {
    if (b.length < 2) return;
    const [l, rr] = mergeParts(b, r, ranks);
    merges.push(`${spell(l)} ${spell(rr)}`);
  });
  cached = { tokens, merges };
  return cached;
}

/**
 * Reka Edge's vocabulary as GGUF tokenizer keys: cl100k_base, then the special tokens to 100351 (control
 * tokens; the ids Reka names carry their names, the rest `<|reka_special_N|>` placeholders), no BOS,
 * <|endoftext|> as EOS and <sep> as end of turn. `pre` is the tokenizer.ggml.pre value; the real file's is
 * not known here, so tests run the cl100k-regex pre-tokenizers llama.cpp has.
 */
export function rekaEdgeVocabulary(pre = 'dbrx'): { size: number; metadata: Record<string, GgufWriterValue> } {
  const { tokens: base, merges } = cl100kBpe();
  const tokens = [...base];
  const types = base.map(() => 1);
  for (let id = base.length; id < REKA_EDGE_VOCAB_SIZE; id++) {
    const cl100kSpecial = Object.entries(cl100k.special_tokens).find(([, v]) => v === id)?.[0];
    tokens.push(REKA_EDGE_TOKEN_TEXT[id] ?? cl100kSpecial ?? `<|reka_special_${id}|>`);
    types.push(3);
  }
  return {
    size: tokens.length,
    metadata: {
      'tokenizer.ggml.model': 'gpt2',
      'tokenizer.ggml.pre': pre,
      'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.token_type': gv.array('i32', types),
      'tokenizer.ggml.merges': merges,
      'tokenizer.ggml.eos_token_id': gv.u32(REKA_EDGE_TOKENS.endOfText),
      'tokenizer.ggml.eot_token_id': gv.u32(REKA_EDGE_TOKENS.sep),
      'tokenizer.ggml.padding_token_id': gv.u32(REKA_EDGE_TOKENS.endOfText),
      'tokenizer.ggml.add_bos_token': gv.bool(false),
    },
  };
}
