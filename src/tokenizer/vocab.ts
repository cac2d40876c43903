// A GGUF vocabulary as llama.cpp reads it (src/llama-vocab.cpp, llama_vocab::impl::load): the token
// list, scores and types, the BPE merges, the special ids with llama.cpp's defaults per model, the
// add-BOS/EOS and space-prefix flags, and llama.cpp's per-token attributes, including the rules it
// applies on top of the file (end-of-generation tokens found by their text become control tokens,
// Phi-3's special tokens swallow the whitespace after them, ...). Tokenization depends on those
// attributes: control tokens are matched in text only when special tokens are parsed, user-defined
// ones always.

import { EdgewiseError } from '../errors.ts';
import type { Gguf } from '../formats/gguf.ts';

// ---------------------------------------------------------------- errors

export type TokenizerProblem = 'model' | 'pre' | 'vocab' | 'token id' | 'tokenizer.json';

/** A vocabulary this engine cannot tokenize with, or a token id outside it. */
export class TokenizerError extends EdgewiseError {
  override name = 'TokenizerError';
  constructor(readonly what: TokenizerProblem, message: string, details: Record<string, unknown> = {}) {
    super(`tokenizer ${what}: ${message}`, { what, ...details });
  }
}

// ---------------------------------------------------------------- token attributes

/** llama.cpp's llama_token_attr bits. */
export const ATTR = {
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
} as const;

/** GGUF tokenizer.ggml.token_type values -> attribute bits (0 undefined, 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte). */
const TYPE_ATTR = [0, ATTR.NORMAL, ATTR.UNKNOWN, ATTR.CONTROL, ATTR.USER_DEFINED, ATTR.UNUSED, ATTR.BYTE];

/** Tokens llama.cpp tokenizes with the special-token pass: control, user-defined and unknown. */
export const SPECIAL_ATTRS = ATTR.CONTROL | ATTR.USER_DEFINED | ATTR.UNKNOWN;

// Texts llama.cpp recognises (llama-vocab.cpp), in its order.
const EOT_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>', '[EOT]', '<｜end▁of▁sentence｜>', '<end_of_utterance>'];
const EOM_TEXTS = ['<|eom_id|>'];
const FIM_TEXTS: Record<'pre' | 'suf' | 'mid' | 'pad' | 'rep' | 'sep', string[]> = {
  pre: ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>'],
  suf: ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>'],
  mid: ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>'],
  pad: ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'],
  rep: ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'],
  sep: ['<|file_sep|>'],
};
const EOG_TEXTS = new Set([
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>', '<|endoftext|>',
  '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>', '<end_of_utterance>', '<eos>', '<turn|>',
  '<|tool_response>', '<｜end▁of▁sentence｜>', '[e~[',
]);

// ---------------------------------------------------------------- pre-tokenizers (BPE)

// llama.cpp's regexes per pre-tokenizer (llm_tokenizer_bpe), applied one after the other: each splits
// the pieces of the previous one, keeping the text between matches as pieces of its own.
const GPT2_RE = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3_RE = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_RE = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN35_RE = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

interface PreTokenizer {
  regexes: string[];
  /** Decoding drops spaces before ?!., and in contractions (llama.cpp's clean_spaces). */
  cleanSpaces: boolean;
  /** A whole pre-token that is in the vocabulary is emitted as is, without merging. */
  ignoreMerges: boolean;
  /** llama.cpp's add_bos default for this pre-tokenizer (the file's add_bos_token overrides it). */
  addBos: boolean;
}

const PRE_GROUPS: { names: string[]; pre: PreTokenizer }[] = [
  {
    names: ['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano'],
    pre: { regexes: [LLAMA3_RE], cleanSpaces: true, ignoreMerges: true, addBos: true },
  },
  { names: ['dbrx', 'smaug-bpe'], pre: { regexes: [LLAMA3_RE], cleanSpaces: true, ignoreMerges: false, addBos: false } },
  { names: ['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2'], pre: { regexes: [QWEN2_RE], cleanSpaces: false, ignoreMerges: false, addBos: false } },
  { names: ['stablelm2'], pre: { regexes: [QWEN2_RE], cleanSpaces: true, ignoreMerges: false, addBos: false } },
  { names: ['qwen35'], pre: { regexes: [QWEN35_RE], cleanSpaces: false, ignoreMerges: false, addBos: false } },
  {
    names: ['gpt-2', 'phi-2', 'jina-es', 'jina-de', 'gigachat', 'jina-v2-es', 'jina-v2-de', 'a.x-4.0', 'mellum', 'modern-bert', 'mpt', 'olmo', 'jais', 'exaone4'],
    pre: { regexes: [GPT2_RE], cleanSpaces: true, ignoreMerges: false, addBos: false },
  },
  { names: ['smollm', 'command-r'], pre: { regexes: ['\\p{N}', GPT2_RE], cleanSpaces: false, ignoreMerges: false, addBos: false } },
  { names: ['starcoder', 'refact', 'codeshell', 'exaone'], pre: { regexes: ['\\p{N}', GPT2_RE], cleanSpaces: true, ignoreMerges: false, addBos: false } },
  {
    names: ['default', ''],
    pre: { regexes: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2_RE, '\\p{N}+', '[0-9][0-9][0-9]'], cleanSpaces: true, ignoreMerges: false, addBos: false },
  },
];

export const SUPPORTED_PRE_TOKENIZERS: readonly string[] = PRE_GROUPS.flatMap((g) => g.names).filter((n) => n);

function preTokenizer(name: string): PreTokenizer {
  const g = PRE_GROUPS.find((p) => p.names.includes(name));
  if (!g) {
    throw new TokenizerError('pre', `unknown pre-tokenizer '${name}' (tokenizer.ggml.pre); supported: ${SUPPORTED_PRE_TOKENIZERS.join(', ')}`, { pre: name });
  }
  return g.pre;
}

// ---------------------------------------------------------------- the vocabulary

export type VocabModel = 'llama' | 'gpt2';

export interface GgufVocab {
  /** tokenizer.ggml.model: 'llama' (SentencePiece, merges by score) or 'gpt2' (byte-level BPE). */
  model: VocabModel;
  /** tokenizer.ggml.pre ('' when absent). */
  pre: string;
  tokens: string[];
  scores: Float32Array;
  /** llama.cpp attribute bits per token (ATTR), after its rules. */
  attrs: Uint32Array;
  /** BPE merges as [left, right] in rank order (gpt2 only). */
  merges: [string, string][];
  /** BPE pre-tokenizer regexes, applied in turn (gpt2 only). */
  regexes: string[];
  bos: number | null;
  eos: number | null;
  eot: number | null;
  eom: number | null;
  unk: number | null;
  pad: number | null;
  /** Tokens that end generation, as llama.cpp's special_eog_ids. */
  eog: Set<number>;
  addBos: boolean;
  addEos: boolean;
  /** SentencePiece: a space is put before the text at the start and after every special token. */
  addSpacePrefix: boolean;
  cleanSpaces: boolean;
  ignoreMerges: boolean;
  chatTemplate: string | null;
}

function optionalU32(gguf: Gguf, key: string): number | null {
  return gguf.has(key) ? gguf.getU32(key) : null;
}

/** Reads tokenizer.ggml.* as llama.cpp does. Throws TokenizerError for an unknown model or pre-tokenizer. */
export function readGgufVocab(gguf: Gguf): GgufVocab {
  const model = gguf.getString('tokenizer.ggml.model', null);
  if (model === null) throw new TokenizerError('model', "the file has no tokenizer (tokenizer.ggml.model is missing)", { model });
  if (model !== 'llama' && model !== 'gpt2') {
    throw new TokenizerError('model', `unknown tokenizer model '${model}' (tokenizer.ggml.model); supported: llama (SentencePiece), gpt2 (byte-level BPE)`, { model });
  }
  const pre = gguf.getString('tokenizer.ggml.pre', '');
  const tokens = gguf.getStrings('tokenizer.ggml.tokens').map((t, i) => (t === '' ? `[EMPTY_${i}]` : t));
  const n = tokens.length;
  if (n === 0) throw new TokenizerError('vocab', 'tokenizer.ggml.tokens is empty');

  const scores = new Float32Array(n);
  if (gguf.has('tokenizer.ggml.scores')) {
    const s = gguf.getArray('tokenizer.ggml.scores');
    if ((s.itemType !== 'f32' && s.itemType !== 'i32') || s.items.length < n) {
      throw new TokenizerError('vocab', `tokenizer.ggml.scores must be f32 or i32 with ${n} entries, got ${s.itemType}[${s.items.length}]`);
    }
    for (let i = 0; i < n; i++) scores[i] = s.items[i];
  }
  const attrs = new Uint32Array(n).fill(ATTR.NORMAL);
  if (gguf.has('tokenizer.ggml.token_type')) {
    const types = gguf.getArray('tokenizer.ggml.token_type', 'i32').items;
    if (types.length < n) throw new TokenizerError('vocab', `tokenizer.ggml.token_type has ${types.length} entries for ${n} tokens`);
    for (let i = 0; i < n; i++) attrs[i] = TYPE_ATTR[types[i]] ?? 0;
  }

  let merges: [string, string][] = [];
  let regexes: string[] = [];
  let addSpacePrefix: boolean, cleanSpaces: boolean, ignoreMerges = false, addBos: boolean;
  const defaults = model === 'llama' ? { bos: 1, eos: 2, unk: 0 as number | null } : { bos: 11, eos: 11, unk: null };
  if (model === 'llama') {
    addSpacePrefix = true;
    cleanSpaces = false;
    addBos = true;
  } else {
    const p = preTokenizer(pre);
    regexes = p.regexes;
    addSpacePrefix = false;
    cleanSpaces = p.cleanSpaces;
    ignoreMerges = p.ignoreMerges;
    addBos = p.addBos;
    if (!gguf.has('tokenizer.ggml.merges')) throw new TokenizerError('vocab', 'a gpt2 tokenizer needs tokenizer.ggml.merges');
    const seen = new Set<string>();
    for (const m of gguf.getStrings('tokenizer.ggml.merges')) {
      const at = m.indexOf(' ', 1); // as llama.cpp: the first space after the first character
      const pair: [string, string] = at < 0 ? ['', ''] : [m.slice(0, at), m.slice(at + 1)];
      const key = `${pair[0]} ${pair[1]}`;
      if (seen.has(key)) continue; // llama.cpp keeps the first rank of a repeated merge
      seen.add(key);
      merges.push(pair);
    }
  }
  addSpacePrefix = gguf.getBool('tokenizer.ggml.add_space_prefix', addSpacePrefix);

  const id = (key: string, fallback: number | null): number | null => {
    const dflt = fallback !== null && fallback < n ? fallback : null;
    const v = optionalU32(gguf, `tokenizer.ggml.${key}`);
    return v !== null && v < n ? v : dflt;
  };
  const bos = id('bos_token_id', defaults.bos);
  const eos = id('eos_token_id', defaults.eos);
  let eot = id('eot_token_id', null);
  let eom = id('eom_token_id', null);
  const unk = id('unknown_token_id', defaults.unk);
  const pad = id('padding_token_id', null);
  const fim = { pad: id('fim_pad_token_id', null), rep: id('fim_rep_token_id', null), sep: id('fim_sep_token_id', null) };
  addBos = gguf.getBool('tokenizer.ggml.add_bos_token', addBos);
  const addEos = gguf.getBool('tokenizer.ggml.add_eos_token', false);

  // Text -> id as llama.cpp's token_to_id: a repeated text maps to its last id.
  const byText = new Map<string, number>();
  tokens.forEach((t, i) => byText.set(t, i));
  const makeControl = (i: number) => { attrs[i] |= ATTR.CONTROL; };
  const findFirst = (texts: readonly string[]) => {
    for (const t of texts) { const i = byText.get(t); if (i !== undefined) return i; }
    return null;
  };
  // Auto-detected EOT/EOM/FIM tokens become control tokens. (llama.cpp walks a hash map, so which of
  // several EOT candidates it picks is unspecified; the first in its list is taken here. The EOG set
  // below does not depend on it.)
  if (eot === null) { eot = findFirst(EOT_TEXTS); if (eot !== null) makeControl(eot); }
  if (eom === null) { eom = findFirst(EOM_TEXTS); if (eom !== null) makeControl(eom); }
  const fimIds: Record<string, number | null> = {};
  for (const [k, texts] of Object.entries(FIM_TEXTS)) {
    const given = k in fim ? fim[k as keyof typeof fim] : id(`fim_${k}_token_id`, null);
    const found = given ?? findFirst(texts);
    if (given === null && found !== null) makeControl(found);
    fimIds[k] = found;
  }
  const eog = new Set<number>();
  for (const k of ['pad', 'rep', 'sep']) if (fimIds[k] !== null) eog.add(fimIds[k]!);
  for (const [text, i] of byText) {
    if (EOG_TEXTS.has(text)) { eog.add(i); makeControl(i); }
  }
  // gpt-oss: these are always rendered.
  for (const text of ['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>']) {
    const i = byText.get(text);
    if (i !== undefined) attrs[i] = ATTR.USER_DEFINED;
  }
  if (eos !== null) eog.add(eos);
  if (eot !== null) eog.add(eot);
  if (eom !== null) eog.add(eom);
  const has = (t: string) => [...eog].some((i) => tokens[i] === t);
  // o200k_harmony / solar-open: <|end|> separates messages, it does not end generation.
  if ((has('<|return|>') && has('<|call|>') && has('<|end|>')) || (has('<|call|>') && has('<|flush|>') && has('<|end|>'))) {
    const e = [...eog].find((i) => tokens[i] === '<|end|>')!;
    eog.delete(e);
    attrs[e] = ATTR.USER_DEFINED;
  }
  // gemma4 / paddleocr: </s> is an ordinary token there.
  if (has('<|tool_response>') && has('</s>')) {
    const s = [...eog].find((i) => tokens[i] === '</s>')!;
    eog.delete(s);
    attrs[s] = ATTR.NORMAL;
  }
  // Phi-3: every special token swallows the whitespace after it, except <unk>, <s> and <|endoftext|>.
  const name = gguf.getString('general.name', '').toLowerCase();
  if (name.includes('phi-3') || name.includes('phi3')) {
    for (let i = 0; i < n; i++) if (attrs[i] & SPECIAL_ATTRS) attrs[i] |= ATTR.RSTRIP;
    const set = (t: string, on: boolean) => {
      const i = byText.get(t);
      if (i === undefined) return;
      attrs[i] = on ? attrs[i] | ATTR.RSTRIP : attrs[i] & ~ATTR.RSTRIP;
    };
    set('</s>', true);
    for (const t of ['<unk>', '<s>', '<|endoftext|>']) set(t, false);
  }

  const chatTemplate = gguf.getString('tokenizer.chat_template', null);
  return {
    model, pre, tokens, scores, attrs, merges, regexes, bos, eos, eot, eom, unk, pad, eog,
    addBos, addEos, addSpacePrefix, cleanSpaces, ignoreMerges, chatTemplate,
  };
}
