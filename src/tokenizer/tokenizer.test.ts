// The tokenizer against llama.cpp, exactly: every string of the committed corpus through each shared
// SentencePiece vocabulary (llama.cpp's tokens and texts recorded in src/testing/fixtures), and small
// byte-level BPE vocabularies trained here, one per pre-tokenizer, against llama.cpp live.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesSource, openGguf } from '../formats/gguf.ts';
import { gv } from '../formats/gguf-writer.ts';
import { openGgufPath } from '../formats/gguf-node.ts';
import { openOracle, type LlamaOracle } from '../testing/llama-oracle.ts';
import { loadTokenizerFixture, modelPath, TOKENIZER_CORPUS, TOKENIZER_VOCABS } from '../testing/tokenizer-fixtures.ts';
import { ggufTokenizerJson, loadTokenizer, TokenizerError, type TextTokenizer } from './tokenizer.ts';
import { readGgufVocab } from './vocab.ts';
import { byteChars, trainByteLevelBpe, toyVocabGguf, type ToyVocabSpec } from './toy-vocab.ts';

async function fromBytes(bytes: Uint8Array, opts?: Parameters<typeof loadTokenizer>[1]): Promise<TextTokenizer> {
  return loadTokenizer(await openGguf(bytesSource(bytes)), opts);
}

const show = (x: unknown) => JSON.stringify(x);

// ---------------------------------------------------------------- SentencePiece vocabularies vs fixtures

describe.each(TOKENIZER_VOCABS)('$name ($file) against the llama.cpp fixture', (vocab) => {
  const fixture = loadTokenizerFixture(vocab.name);
  let tok: TextTokenizer;

  beforeAll(async () => {
    const gguf = await openGgufPath(modelPath(vocab.file));
    try {
      tok = loadTokenizer(gguf);
    } finally {
      await gguf.close();
    }
  });

  it('has llama.cpp vocabulary size, BOS and EOS', () => {
    expect([tok.vocabSize, tok.bos, tok.eos]).toEqual([fixture.vocabSize, fixture.bos, fixture.eos]);
  });

  it('encodes every corpus string to llama.cpp ids, special tokens as text and parsed', () => {
    const bad: string[] = [];
    for (const c of fixture.cases) {
      const plain = tok.encode(c.text);
      const special = tok.encode(c.text, { parseSpecial: true });
      if (show(plain) !== show(c.ids)) bad.push(`${show(c.text)}: ${show(plain)} != llama.cpp ${show(c.ids)}`);
      if (show(special) !== show(c.idsSpecial)) bad.push(`${show(c.text)} (special): ${show(special)} != llama.cpp ${show(c.idsSpecial)}`);
    }
    expect(bad).toEqual([]);
    expect(fixture.cases.length).toBe(TOKENIZER_CORPUS.length);
  });

  it('decodes llama.cpp ids to llama.cpp text, special tokens skipped and rendered', () => {
    const bad: string[] = [];
    for (const c of fixture.cases) {
      const plain = tok.decode(c.ids, { skipSpecial: true });
      const special = tok.decode(c.idsSpecial);
      if (plain !== c.detok) bad.push(`${show(c.ids)}: ${show(plain)} != llama.cpp ${show(c.detok)}`);
      if (special !== c.detokSpecial) bad.push(`${show(c.idsSpecial)} (special): ${show(special)} != llama.cpp ${show(c.detokSpecial)}`);
    }
    expect(bad).toEqual([]);
  });

  it('adds BOS as the file says and streams the same text, holding back split characters', () => {
    const ids = tok.encode('Once upon a time 🙂', { addSpecial: true });
    expect(ids[0]).toBe(fixture.bos); // SentencePiece: add_bos_token true or absent (llama.cpp's default)
    expect(ids.slice(1)).toEqual(tok.encode('Once upon a time 🙂'));
    const stream = tok.decodeStream({ skipSpecial: true });
    const parts = ids.map((id) => stream.push(id));
    const text = parts.join('') + stream.flush();
    // Streaming keeps the leading space of the first piece (llama.cpp prints pieces as they come).
    expect(text).toBe(' Once upon a time 🙂');
    expect(parts.some((p) => p.includes('\uFFFD'))).toBe(false);
    expect(parts.at(-1)).toContain('🙂');
  });
});

describe('Phi-3 vocabulary facts', () => {
  it('ends generation on <|endoftext|>, <|end|> and </s>, and carries the chat template', async () => {
    const gguf = await openGgufPath(modelPath('ggml-vocab-phi-3.gguf'));
    const tok = loadTokenizer(gguf);
    await gguf.close();
    expect([...tok.eog].sort((a, b) => a - b)).toEqual([2, 32000, 32007]);
    expect(tok.eot).toBe(32007);
    expect(tok.chatTemplate).toContain("'<|user|>'");
    expect(tok.tokenText(32010)).toBe('<|user|>');
  });
});

// ---------------------------------------------------------------- live against llama.cpp

const EXTRA = [
  'a , b . c ! d ? e',
  "it 's I 'm we 're you 've they 'll he 'd x ' y",
  "Don't I'LL WE'RE",
  '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>',
  'x<tool_call>y</tool_call> z',
  '12345678901234567890 1.5e10',
  '\n\n\n  \r\n\t\t x  \n',
  '\u00a0nbsp\u3000ideo\u0085nel\ufeffbom',
];
const LIVE_CORPUS = [...TOKENIZER_CORPUS, ...EXTRA];

describe('byte-level BPE vocabularies against llama.cpp live', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgewise-tok-'));
  const split = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
  const train = LIVE_CORPUS.join('\n').repeat(3) + ' Once upon a time there was a little girl named Lily. She loved to play outside.'.repeat(5);
  const { tokens, merges } = trainByteLevelBpe(train, split, 400);
  const specials = ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>', '<|start_header_id|>', '<|end_header_id|>', '<|endoftext|>', '<|im_start|>', '<|im_end|>', '<tool_call>', '</tool_call>'];
  // <tool_call> and </tool_call> are user-defined (matched even without parseSpecial), the rest control.
  const types = [...tokens.map(() => 1), ...specials.map((t) => (t.includes('tool_call') ? 4 : 3))];
  const spec = (pre: string): ToyVocabSpec => ({
    model: 'gpt2', pre, tokens: [...tokens, ...specials], types, merges,
    extra: { 'tokenizer.ggml.bos_token_id': gv.u32(tokens.length), 'tokenizer.ggml.eos_token_id': gv.u32(tokens.length + 1) },
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('trains a vocabulary whose merges matter', () => {
    expect(merges.length).toBe(400);
    expect(tokens.length).toBe(656);
  });

  for (const pre of ['llama-bpe', 'qwen2', 'smollm', 'gpt-2', 'default']) {
    it(`pre-tokenizer '${pre}': encode and decode equal llama.cpp on ${LIVE_CORPUS.length} strings, both modes`, async () => {
      const bytes = toyVocabGguf(spec(pre));
      const path = join(dir, `${pre}.gguf`);
      writeFileSync(path, bytes);
      const tok = await fromBytes(bytes);
      const oracle = await openOracle(path, { vocabOnly: true });
      try {
        const bad: string[] = [];
        let nTokens = 0;
        for (const text of LIVE_CORPUS) {
          for (const special of [false, true]) {
            const want = oracle.tokenize(text, { special });
            const got = tok.encode(text, { parseSpecial: special });
            nTokens += want.length;
            if (show(got) !== show(want)) bad.push(`${show(text)}${special ? ' (special)' : ''}: ${show(got)} != llama.cpp ${show(want)}`);
            const text2 = tok.decode(want, { skipSpecial: !special });
            const want2 = oracle.detokenize(want, { special });
            if (text2 !== want2) bad.push(`decode ${show(want)}${special ? ' (special)' : ''}: ${show(text2)} != llama.cpp ${show(want2)}`);
          }
        }
        expect(bad).toEqual([]);
        expect([tok.bos, tok.eos]).toEqual([oracle.bos, oracle.eos]);
        // Merges did work: far fewer tokens than bytes.
        expect(nTokens).toBeLessThan(LIVE_CORPUS.join('').length);
      } finally {
        await oracle.close();
      }
    });
  }

  it('adds BOS by the pre-tokenizer default and the file key, and finds the end-of-generation tokens', async () => {
    const bos = tokens.length, eos = tokens.length + 1;
    const llama3 = await fromBytes(toyVocabGguf(spec('llama-bpe')));
    expect(llama3.encode('Hi', { addSpecial: true })[0]).toBe(bos); // llama-bpe: add_bos defaults to true
    const qwen = await fromBytes(toyVocabGguf(spec('qwen2')));
    expect(qwen.encode('Hi', { addSpecial: true })).toEqual(qwen.encode('Hi')); // qwen2: no BOS
    const s = spec('qwen2');
    const both = await fromBytes(toyVocabGguf({ ...s, extra: { ...s.extra, 'tokenizer.ggml.add_bos_token': true, 'tokenizer.ggml.add_eos_token': true } }));
    const ids = both.encode('Hi', { addSpecial: true });
    expect([ids[0], ids.at(-1)]).toEqual([bos, eos]);
    const at = (t: string) => tokens.length + specials.indexOf(t);
    expect([...qwen.eog].sort((a, b) => a - b)).toEqual([at('<|end_of_text|>'), at('<|eot_id|>'), at('<|endoftext|>'), at('<|im_end|>')]);
    expect(qwen.isEog(at('<|im_start|>'))).toBe(false);
  });

  it('streams byte-level pieces, holding back a character split over tokens', async () => {
    const tok = await fromBytes(toyVocabGguf(spec('qwen2')));
    const ids = tok.encode('日本 🙂!');
    const stream = tok.decodeStream();
    const parts = ids.map((id) => stream.push(id));
    expect(parts.join('') + stream.flush()).toBe('日本 🙂!');
    expect(parts.filter((p) => p === '').length).toBeGreaterThan(0); // some tokens end mid-character
    expect(parts.some((p) => p.includes('\uFFFD'))).toBe(false);
  });
});

describe('SentencePiece merge ties against llama.cpp live', () => {
  // Two merges of equal score competing for one 'b': llama.cpp merges the leftmost first. The
  // library's ranks are unique per merge; equal-score merges must share one so position decides.
  let oracle: LlamaOracle;
  const dir = mkdtempSync(join(tmpdir(), 'edgewise-spm-'));
  const bytes = byteChars().map((_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const pieces = ['▁', 'a', 'b', 'c', 'ba', 'ab', 'bc', 'cb'];
  const spec: ToyVocabSpec = {
    model: 'llama',
    tokens: ['<unk>', '<s>', '</s>', ...bytes, ...pieces],
    types: [2, 3, 3, ...bytes.map(() => 6), ...pieces.map(() => 1)],
    scores: [0, 0, 0, ...bytes.map(() => 0), -1, -2, -2, -2, -5, -5, -5, -5],
  };
  const path = join(dir, 'spm-ties.gguf');
  beforeAll(async () => {
    writeFileSync(path, toyVocabGguf(spec));
    oracle = await openOracle(path, { vocabOnly: true });
  });
  afterAll(async () => {
    await oracle?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('merges equal-score pairs leftmost first, as llama.cpp', async () => {
    const tok = await fromBytes(toyVocabGguf(spec));
    const texts = ['aba', 'abab', 'cbc', 'bcb', 'abcba', 'a b a', 'ba ab', 'xyz aba'];
    for (const text of texts) expect(tok.encode(text), text).toEqual(oracle.tokenize(text));
    // Without shared ranks, ('b','a') (the lower token id) would win over the leftmost ('a','b').
    expect(tok.encode('aba')).toEqual([259, 264, 260]);
  });
});

// ---------------------------------------------------------------- errors, external tokenizer.json

describe('tokenizer errors', () => {
  it('names an unknown tokenizer model or pre-tokenizer, and a missing one', async () => {
    await expect(fromBytes(toyVocabGguf({ model: 't5' as never, tokens: ['a', 'b'] }))).rejects.toThrow(/unknown tokenizer model 't5'/);
    await expect(fromBytes(toyVocabGguf({ model: 'gpt2', pre: 'klingon', tokens: ['a'], merges: [] }))).rejects.toThrow(TokenizerError);
    await expect(fromBytes(toyVocabGguf({ model: 'gpt2', pre: 'klingon', tokens: ['a'], merges: [] }))).rejects.toThrow(/unknown pre-tokenizer 'klingon'/);
    const noTok = await openGguf(bytesSource(toyVocabGguf({ model: 'llama', tokens: ['a'] })));
    noTok.metadata.delete('tokenizer.ggml.model');
    expect(() => loadTokenizer(noTok)).toThrow(/has no tokenizer/);
  });

  it('refuses token ids outside the vocabulary', async () => {
    const tok = await fromBytes(toyVocabGguf({ model: 'llama', tokens: ['<unk>', '<s>', '</s>', 'a'], types: [2, 3, 3, 1] }));
    expect(() => tok.decode([1, 4])).toThrow(/token id 4 is outside the vocabulary of 4/);
    expect(() => tok.decode([-1])).toThrow(TokenizerError);
    expect(() => tok.decodeStream().push(1.5)).toThrow(TokenizerError);
  });
});

describe('an external tokenizer.json', () => {
  it('encodes and decodes through the library as given, BOS by its post-processor', async () => {
    const gguf = await openGgufPath(modelPath('stories260K.gguf'));
    const vocab = readGgufVocab(gguf);
    // The JSON this module builds, as a file would carry it, plus a post-processor adding <s>.
    const { json } = ggufTokenizerJson(vocab, true);
    const external = {
      ...json,
      post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [], special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } } },
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    };
    const ext = loadTokenizer(gguf, { tokenizerJson: external });
    const own = loadTokenizer(gguf);
    await gguf.close();
    const fixture = loadTokenizerFixture('stories260K');
    // Ties among equal scores are the library's own here (no shared ranks), so compare on plain prose.
    for (const text of ['Once upon a time', 'Lily and Tom went to the park.', 'The quick brown fox jumps over the lazy dog.']) {
      expect(ext.encode(text)).toEqual(own.encode(text));
      expect(ext.encode(text, { addSpecial: true })).toEqual([1, ...own.encode(text)]);
      expect(ext.decode(own.encode(text))).toBe(text);
    }
    expect(ext.encode('<s>Hello</s>', { parseSpecial: true })).toEqual(fixture.cases.find((c) => c.text === '<s>Hello</s>')!.idsSpecial);
    expect([ext.bos, ext.eos]).toEqual([1, 2]);
    expect(() => loadTokenizer(gguf, { tokenizerJson: { version: '1.0' } })).toThrow(/no "model"/);
  });
});
