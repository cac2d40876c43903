// Text <-> token ids, as llama.cpp does it, from a GGUF vocabulary (or a tokenizer.json given alongside).
//
// Encoding goes through @huggingface/tokenizers with a tokenizer.json built here in memory:
// - SentencePiece ('llama'): llama.cpp merges adjacent symbols (UTF-8 characters, then merged pieces)
//   whose concatenation is a vocabulary token, the highest-scoring one first, the leftmost on ties, and
//   spells what never formed a token as <0xNN> bytes. That is BPE with one merge per way of splitting a
//   token into two symbols, ranked by the merged token's score, with byte fallback. Tokens of equal
//   score share one rank so that the library's position tie-break (leftmost first) decides, as in
//   llama.cpp: Llama-2's runs of '▁' all score -1e9, and their merge order depends on it. A '▁' is put
//   before the text and after every special token (add_space_prefix), spaces become '▁'.
// - byte-level BPE ('gpt2'): the file's merges and llama.cpp's pre-tokenizer regexes for
//   tokenizer.ggml.pre, each a Split that keeps the text between matches, then the byte-to-unicode map.
// - Special tokens are added tokens, matched in the raw text before anything else: with parseSpecial,
//   every control, user-defined and unknown token; without, only user-defined ones (llama.cpp's rule).
//   Two library tokenizers are built, one per mode.
// Decoding is llama.cpp's detokenize, written out here: each token's piece (control and unknown tokens
// only when special tokens are rendered), one leading space removed when the vocabulary adds one, and
// for most BPE vocabularies llama.cpp's clean-up of spaces before punctuation.

import { Tokenizer as HfTokenizer, BPE } from '@huggingface/tokenizers';
import type { Gguf } from '../formats/gguf.ts';
import { ATTR, readGgufVocab, SPECIAL_ATTRS, TokenizerError, type GgufVocab } from './vocab.ts';

export { TokenizerError } from './vocab.ts';

export interface EncodeOptions {
  /** Add BOS/EOS as the vocabulary says (tokenizer.ggml.add_bos_token / add_eos_token). Default false. */
  addSpecial?: boolean;
  /** Turn special-token text ("<s>", "<|im_end|>") into those tokens. Default false: it stays text. */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Leave control and unknown tokens out of the text. Default false: they are rendered as their text. */
  skipSpecial?: boolean;
}

/** Incremental decoding: the text each new token adds, holding back an incomplete UTF-8 sequence. */
export interface StreamDecoder {
  push(id: number): string;
  /** The held-back bytes, decoded (incomplete sequences as U+FFFD), and a reset. */
  flush(): string;
}

export interface TextTokenizer {
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  /** End of turn (<|eot_id|>, <|im_end|>, <end_of_turn>, ...), when the vocabulary has one. */
  readonly eot: number | null;
  /** Every token that ends generation (llama.cpp's EOG set: eos, eot, eom and the known end texts). */
  readonly eog: ReadonlySet<number>;
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** tokenizer.chat_template, when the file has one. */
  readonly chatTemplate: string | null;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: readonly number[], opts?: DecodeOptions): string;
  /**
   * Streaming pieces as llama.cpp prints them while generating: no leading-space removal, no space
   * clean-up; bytes of a character split over tokens are held until it is complete.
   */
  decodeStream(opts?: DecodeOptions): StreamDecoder;
  /** The token's text as stored in the vocabulary. */
  tokenText(id: number): string;
  isEog(id: number): boolean;
}

export interface LoadTokenizerOptions {
  /** A Hugging Face tokenizer.json (parsed) to use instead of the GGUF vocabulary's tokens. */
  tokenizerJson?: object;
  /** Its tokenizer_config.json (parsed), if any. */
  tokenizerConfig?: object;
}

/** The tokenizer of a GGUF file (or of a tokenizer.json given with it). */
export function loadTokenizer(gguf: Gguf, opts: LoadTokenizerOptions = {}): TextTokenizer {
  if (opts.tokenizerJson) return new HfJsonTokenizer(opts.tokenizerJson, opts.tokenizerConfig ?? {}, gguf);
  return new GgufTokenizer(readGgufVocab(gguf));
}

// ---------------------------------------------------------------- tokenizer.json from a GGUF vocabulary

const SPACE = '\u2581';

interface Merge { left: string; right: string; score: number; id: number }

/** SentencePiece merges: every split of a token into two symbols (tokens or single characters). */
function spmMerges(v: GgufVocab, byText: Map<string, number>): Merge[] {
  const merges: Merge[] = [];
  const isSymbol = (s: string, chars: number) => chars === 1 || byText.has(s);
  for (const [text, id] of byText) {
    const cps = Array.from(text);
    if (cps.length < 2) continue;
    let left = '';
    for (let k = 1; k < cps.length; k++) {
      left += cps[k - 1];
      const right = text.slice(left.length);
      if (isSymbol(left, k) && isSymbol(right, cps.length - k)) merges.push({ left, right, score: v.scores[id], id });
    }
  }
  // Highest score first; ties in token order (only for a readable list: equal scores share a rank).
  merges.sort((a, b) => b.score - a.score || a.id - b.id);
  return merges;
}

interface AddedTokenJson { id: number; content: string; special: boolean; normalized: boolean; lstrip: boolean; rstrip: boolean; single_word: boolean }

function addedTokens(v: GgufVocab, parseSpecial: boolean): AddedTokenJson[] {
  const out: AddedTokenJson[] = [];
  v.attrs.forEach((a, id) => {
    if (!(a & SPECIAL_ATTRS)) return;
    // Without parseSpecial llama.cpp still matches user-defined tokens, never control or unknown ones.
    if (!parseSpecial && a & (ATTR.CONTROL | ATTR.UNKNOWN)) return;
    out.push({
      id, content: v.tokens[id], special: true, normalized: false,
      lstrip: (a & ATTR.LSTRIP) !== 0, rstrip: (a & ATTR.RSTRIP) !== 0, single_word: false,
    });
  });
  return out;
}

function vocabObject(v: GgufVocab): Record<string, number> {
  const vocab: Record<string, number> = Object.create(null);
  v.tokens.forEach((t, i) => { vocab[t] = i; });
  return vocab;
}

/** The tokenizer.json for one mode (parseSpecial or not), and the merge ranks to install (SPM). */
export function ggufTokenizerJson(v: GgufVocab, parseSpecial: boolean): { json: Record<string, unknown>; ranks: Map<string, number> | null } {
  const added = addedTokens(v, parseSpecial);
  if (v.model === 'llama') {
    const byText = new Map<string, number>();
    v.tokens.forEach((t, i) => byText.set(t, i));
    const merges = spmMerges(v, byText);
    const ranks = new Map<string, number>();
    let rank = -1, prev = NaN;
    for (const m of merges) {
      if (m.score !== prev) { rank++; prev = m.score; }
      ranks.set(JSON.stringify([m.left, m.right]), rank);
    }
    const normalizers: Record<string, unknown>[] = [];
    if (v.addSpacePrefix) normalizers.push({ type: 'Prepend', prepend: SPACE });
    normalizers.push({ type: 'Replace', pattern: { String: ' ' }, content: SPACE });
    const json = {
      version: '1.0',
      added_tokens: added,
      normalizer: { type: 'Sequence', normalizers },
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      model: {
        type: 'BPE', vocab: vocabObject(v), merges: merges.map((m) => [m.left, m.right]),
        unk_token: v.unk !== null ? v.tokens[v.unk] : null, byte_fallback: true, fuse_unk: false, ignore_merges: false,
      },
    };
    return { json, ranks };
  }
  const json = {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        ...v.regexes.map((r) => ({ type: 'Split', pattern: { Regex: r }, behavior: 'Isolated', invert: false })),
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: null,
    model: { type: 'BPE', vocab: vocabObject(v), merges: v.merges, unk_token: null, byte_fallback: false, fuse_unk: false, ignore_merges: v.ignoreMerges },
  };
  return { json, ranks: null };
}

function buildHf(v: GgufVocab, parseSpecial: boolean): HfTokenizer {
  const { json, ranks } = ggufTokenizerJson(v, parseSpecial);
  // With ranks to install, the library need not index the merge list itself (a 256k-token SentencePiece
  // vocabulary has about a million).
  const model = ranks ? { ...(json.model as object), merges: [] } : json.model;
  const tok = new HfTokenizer({ ...json, model }, { clean_up_tokenization_spaces: false });
  if (ranks) {
    if (!(tok.model instanceof BPE) || !(tok.model.bpe_ranks instanceof Map)) {
      throw new TokenizerError('tokenizer.json', '@huggingface/tokenizers no longer exposes BPE.bpe_ranks; SentencePiece ties cannot be ranked');
    }
    tok.model.bpe_ranks = ranks;
  }
  return tok;
}

// ---------------------------------------------------------------- pieces (llama.cpp's token_to_piece)

const utf8 = new TextEncoder();

/** GPT-2's byte -> printable character map, inverted: character code -> byte. */
const UNICODE_TO_BYTE: Map<number, number> = (() => {
  const m = new Map<number, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    m.set(printable ? b : 256 + extra++, b);
  }
  return m;
})();

function hex2(s: string): number {
  return parseInt(s.slice(3, 5), 16) & 0xff;
}

/** The bytes llama.cpp prints for a token when special tokens are rendered. */
function piece(v: GgufVocab, id: number): Uint8Array {
  const a = v.attrs[id], text = v.tokens[id];
  if (a & (SPECIAL_ATTRS)) return utf8.encode(text);
  if (a & ATTR.NORMAL) {
    if (v.model === 'llama') return utf8.encode(text.replaceAll(SPACE, ' '));
    const out: number[] = [];
    for (const ch of text) {
      const b = UNICODE_TO_BYTE.get(ch.codePointAt(0)!);
      if (b !== undefined) out.push(b);
      else {
        // llama.cpp's llama_decode_text marks a character outside the byte map this way.
        const hex = [...utf8.encode(ch)].map((x) => x.toString(16).padStart(2, '0')).join('');
        out.push(...utf8.encode(`[UNK_BYTE_0x${hex}${text}]`));
      }
    }
    return Uint8Array.from(out);
  }
  if (a & ATTR.BYTE) return Uint8Array.of(hex2(text));
  return new Uint8Array(0);
}

/** llama.cpp's clean_spaces passes over the detokenized bytes (ASCII only). */
function cleanSpaces(t: Uint8Array): Uint8Array {
  const SP = 0x20, Q = 0x27;
  const pass = (n: number, step: (i: number, total: number) => number) => {
    let total = n ? 1 : 0;
    for (let i = 1; i < n; i++) total = step(i, total);
    return total;
  };
  // 1: " ?", " !", " .", " ," lose the space.
  let n = pass(t.length, (i, total) => {
    const x = t[i];
    if (t[i - 1] === SP && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) total--;
    t[total] = x;
    return total + 1;
  });
  // 2: " ' " becomes "'".
  const n2 = n;
  let total = n2 ? 1 : 0;
  for (let i = 1; i < n2; i++) {
    const x = t[i];
    if (x === Q && i + 1 < n2 && t[i - 1] === SP && t[i + 1] === SP) {
      total--;
      t[++i] = 0;
    }
    t[total++] = x;
  }
  n = total;
  // 3: " 's", " 'm", " 're", " 've" lose the space.
  n = pass(n, (i, tot) => {
    const x = t[i];
    if (t[i - 1] === SP && x === Q && i + 1 < n) {
      const x1 = t[i + 1];
      if (x1 === 0x73 || x1 === 0x6d) tot--;
      else if (i + 2 < n && ((x1 === 0x72 && t[i + 2] === 0x65) || (x1 === 0x76 && t[i + 2] === 0x65))) tot--;
    }
    t[tot] = x;
    return tot + 1;
  });
  return t.subarray(0, n);
}

// ---------------------------------------------------------------- the GGUF tokenizer

class GgufTokenizer implements TextTokenizer {
  private readonly plain: HfTokenizer;
  private special: HfTokenizer | null = null;
  private readonly pieces: Uint8Array[];

  constructor(private readonly v: GgufVocab) {
    this.plain = buildHf(v, false);
    this.pieces = v.tokens.map((_, i) => piece(v, i));
  }

  get vocabSize() { return this.v.tokens.length; }
  get bos() { return this.v.bos; }
  get eos() { return this.v.eos; }
  get eot() { return this.v.eot; }
  get eog(): ReadonlySet<number> { return this.v.eog; }
  get addBos() { return this.v.addBos; }
  get addEos() { return this.v.addEos; }
  get chatTemplate() { return this.v.chatTemplate; }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const hf = opts.parseSpecial ? (this.special ??= buildHf(this.v, true)) : this.plain;
    const ids = text === '' ? [] : hf.encode(text, { add_special_tokens: false }).ids;
    if (opts.addSpecial) {
      if (this.v.addBos) {
        if (this.v.bos === null) throw new TokenizerError('vocab', 'the vocabulary asks for a BOS token but has none');
        ids.unshift(this.v.bos);
      }
      if (this.v.addEos) {
        if (this.v.eos === null) throw new TokenizerError('vocab', 'the vocabulary asks for an EOS token but has none');
        ids.push(this.v.eos);
      }
    }
    return ids;
  }

  private pieceOf(id: number, skipSpecial: boolean): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.pieces.length) {
      throw new TokenizerError('token id', `token id ${id} is outside the vocabulary of ${this.pieces.length}`, { id, vocabSize: this.pieces.length });
    }
    if (skipSpecial && this.v.attrs[id] & (ATTR.CONTROL | ATTR.UNKNOWN)) return new Uint8Array(0);
    return this.pieces[id];
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const parts = ids.map((id) => this.pieceOf(id, opts.skipSpecial ?? false));
    // The first token loses one leading space (llama.cpp strips it even when that token prints nothing).
    if (this.v.addSpacePrefix && parts.length && parts[0][0] === 0x20) parts[0] = parts[0].subarray(1);
    let bytes: Uint8Array = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) { bytes.set(p, at); at += p.length; }
    if (this.v.cleanSpaces) bytes = cleanSpaces(bytes);
    return new TextDecoder().decode(bytes);
  }

  decodeStream(opts: DecodeOptions = {}): StreamDecoder {
    let dec = new TextDecoder();
    return {
      push: (id) => dec.decode(this.pieceOf(id, opts.skipSpecial ?? false), { stream: true }),
      flush: () => {
        const rest = dec.decode();
        dec = new TextDecoder();
        return rest;
      },
    };
  }

  tokenText(id: number): string {
    this.pieceOf(id, false);
    return this.v.tokens[id];
  }

  isEog(id: number): boolean {
    return this.v.eog.has(id);
  }
}

// ---------------------------------------------------------------- an external tokenizer.json

interface HfAddedToken { id: number; content: string; special?: boolean }

/**
 * A Hugging Face tokenizer.json as given: encoding and decoding are the library's (its post-processor
 * adds BOS/EOS). Special ids come from the GGUF when it has a vocabulary, else from the config's token
 * strings.
 */
class HfJsonTokenizer implements TextTokenizer {
  private readonly withSpecial: HfTokenizer;
  private readonly withoutSpecial: HfTokenizer;
  private readonly vocab: GgufVocab | null;
  private readonly specialIds: Set<number>;
  readonly vocabSize: number;

  constructor(json: object, config: object, gguf: Gguf) {
    const j = json as { added_tokens?: HfAddedToken[]; model?: unknown };
    if (!j.model) throw new TokenizerError('tokenizer.json', 'it has no "model"');
    try {
      this.withSpecial = new HfTokenizer(json, config);
      // Without parseSpecial, special added tokens are not matched in the text.
      this.withoutSpecial = new HfTokenizer({ ...j, added_tokens: (j.added_tokens ?? []).filter((t) => !t.special) }, config);
    } catch (e) {
      throw new TokenizerError('tokenizer.json', `@huggingface/tokenizers refused it: ${(e as Error).message}`);
    }
    this.vocab = gguf.has('tokenizer.ggml.tokens') ? readGgufVocab(gguf) : null;
    this.specialIds = new Set((j.added_tokens ?? []).filter((t) => t.special).map((t) => t.id));
    this.vocabSize = this.withSpecial.get_vocab(true).size;
  }

  private configId(key: string): number | null {
    const c = (this.withSpecial as unknown as { config: Record<string, unknown> }).config ?? {};
    const v = c[key];
    const text = typeof v === 'string' ? v : (v as { content?: string } | undefined)?.content;
    return text === undefined ? null : this.withSpecial.token_to_id(text) ?? null;
  }

  get bos() { return this.vocab ? this.vocab.bos : this.configId('bos_token'); }
  get eos() { return this.vocab ? this.vocab.eos : this.configId('eos_token'); }
  get eot() { return this.vocab?.eot ?? null; }
  get eog(): ReadonlySet<number> {
    if (this.vocab) return this.vocab.eog;
    return new Set([this.eos].filter((x): x is number => x !== null));
  }
  get addBos() { return this.vocab?.addBos ?? false; }
  get addEos() { return this.vocab?.addEos ?? false; }
  get chatTemplate() {
    const t = (this.withSpecial as unknown as { config: { chat_template?: unknown } }).config?.chat_template;
    return this.vocab?.chatTemplate ?? (typeof t === 'string' ? t : null);
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (text === '' && !opts.addSpecial) return [];
    const hf = opts.parseSpecial ? this.withSpecial : this.withoutSpecial;
    return hf.encode(text, { add_special_tokens: opts.addSpecial ?? false }).ids;
  }

  private check(ids: readonly number[]): void {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new TokenizerError('token id', `token id ${id} is outside the vocabulary of ${this.vocabSize}`, { id, vocabSize: this.vocabSize });
      }
    }
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    this.check(ids);
    if (ids.length === 0) return '';
    return this.withSpecial.decode([...ids], { skip_special_tokens: opts.skipSpecial ?? false, clean_up_tokenization_spaces: false });
  }

  decodeStream(opts: DecodeOptions = {}): StreamDecoder {
    // The library decodes whole sequences: emit what decoding all ids so far adds, holding back a
    // trailing U+FFFD (an incomplete byte sequence) until the next token completes it.
    let ids: number[] = [];
    let emitted = '';
    return {
      push: (id) => {
        this.check([id]);
        if (opts.skipSpecial && this.specialIds.has(id)) return '';
        ids.push(id);
        const text = this.decode(ids, opts);
        if (text.endsWith('\uFFFD') || !text.startsWith(emitted)) return '';
        const out = text.slice(emitted.length);
        emitted = text;
        return out;
      },
      flush: () => {
        const text = ids.length ? this.decode(ids, opts) : '';
        const out = text.startsWith(emitted) ? text.slice(emitted.length) : '';
        ids = [];
        emitted = '';
        return out;
      },
    };
  }

  tokenText(id: number): string {
    this.check([id]);
    return this.withSpecial.id_to_token(id) ?? '';
  }

  isEog(id: number): boolean {
    return this.eog.has(id);
  }
}
