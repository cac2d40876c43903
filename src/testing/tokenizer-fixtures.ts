// llama.cpp's tokenization of a corpus of awkward strings, per test vocabulary, recorded in
// src/testing/fixtures/tokenizer-<name>.json by scripts/gen-tokenizer-fixtures.ts, so our tokenizer can
// be checked against llama.cpp without loading it. llama-oracle.test.ts fails when a fixture is stale.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { LlamaOracle } from './llama-oracle.ts';

/** ../shared/models beside the repository root (read-only model files, never committed here). */
export const MODELS_DIR = new URL('../../../shared/models/', import.meta.url);
export const FIXTURES_DIR = new URL('./fixtures/', import.meta.url);

export const TOKENIZER_VOCABS = [
  { name: 'stories260K', file: 'stories260K.gguf' }, // SentencePiece, 512 tokens
  { name: 'llama-2', file: 'llama-2-tiny-random.gguf' }, // SentencePiece, Llama-2's 32000 tokens
  { name: 'phi-3', file: 'ggml-vocab-phi-3.gguf' }, // SentencePiece + chat special tokens, vocabulary only
] as const;

export type TokenizerVocab = (typeof TOKENIZER_VOCABS)[number];

export const TOKENIZER_CORPUS: readonly string[] = [
  '',
  'Once upon a time',
  ' Once upon a time',
  '  two leading spaces',
  'trailing space ',
  'Hello, world!',
  'multiple     spaces    between',
  '   \n\t  ',
  '\ttab\tseparated\t',
  'line one\nline two\n\n\nthree newlines',
  'windows\r\nline ending',
  '1234567890',
  '3.14159 and 2,000,000 and 007',
  '<s>',
  '</s>',
  '<unk>',
  '<s>Hello</s>',
  'text <s> inside </s> text',
  '<|user|>\nHi<|end|>\n<|assistant|>',
  '<|endoftext|>',
  'naïve café résumé',
  'e\u0301 combining acute, a\u0308 combining diaeresis',
  'Z\u0351\u0300a\u0316l\u0303g\u0308o',
  '日本語のテキスト',
  '中文测试，标点。',
  '한국어 텍스트',
  'Привет, мир',
  'Καλημέρα κόσμε',
  'مرحبا بالعالم',
  '🙂',
  '👍🏽 👨‍👩‍👧‍👦 🇫🇷',
  '\u2581 the SentencePiece space mark',
  'Lily\u2019s dog \u2014 named \u201cMax\u201d \u2014 ran\u2026',
  'def f(x):\n    return x ** 2',
  'https://example.com/a?b=c&d=e#f',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'The quick brown fox jumps over the lazy dog.',
];

export interface TokenizerCase {
  text: string;
  /** tokenize(text): special-token text stays plain text; no BOS. */
  ids: number[];
  /** tokenize(text, { special: true }): "<s>" and the like become special tokens; no BOS. */
  idsSpecial: number[];
  /** detokenize(ids). */
  detok: string;
  /** detokenize(idsSpecial, { special: true }). */
  detokSpecial: string;
}

export interface TokenizerFixture {
  generator: string;
  oracle: string;
  model: string;
  sha256: string;
  vocabSize: number;
  bos: number | null;
  eos: number | null;
  cases: TokenizerCase[];
}

export function modelPath(file: string): string {
  return new URL(file, MODELS_DIR).pathname;
}

export function fixturePath(name: string): string {
  return new URL(`tokenizer-${name}.json`, FIXTURES_DIR).pathname;
}

export function loadTokenizerFixture(name: string): TokenizerFixture {
  return JSON.parse(readFileSync(fixturePath(name), 'utf8')) as TokenizerFixture;
}

/** Tokenizes the corpus with an oracle opened on vocab.file (vocabOnly is enough). */
export function buildTokenizerFixture(oracle: LlamaOracle, vocab: TokenizerVocab, corpus = TOKENIZER_CORPUS): TokenizerFixture {
  const cases = corpus.map((text) => {
    const ids = oracle.tokenize(text);
    const idsSpecial = oracle.tokenize(text, { special: true });
    return { text, ids, idsSpecial, detok: oracle.detokenize(ids), detokSpecial: oracle.detokenize(idsSpecial, { special: true }) };
  });
  return {
    generator: 'scripts/gen-tokenizer-fixtures.ts',
    oracle: oracle.version,
    model: vocab.file,
    sha256: createHash('sha256').update(readFileSync(modelPath(vocab.file))).digest('hex'),
    vocabSize: oracle.vocabSize,
    bos: oracle.bos,
    eos: oracle.eos,
    cases,
  };
}

/** Pretty at the top, one case per line: small, readable diffs when llama.cpp changes its mind. */
export function formatTokenizerFixture(f: TokenizerFixture): string {
  const { cases, ...head } = f;
  const top = JSON.stringify(head, null, 2).slice(0, -2);
  return `${top},\n  "cases": [\n${cases.map((c) => `    ${JSON.stringify(c)}`).join(',\n')}\n  ]\n}\n`;
}
