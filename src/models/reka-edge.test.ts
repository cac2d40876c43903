// Reka Edge's text half on Reka-Edge-shaped random-weight fixtures that carry the real vocabulary
// (cl100k_base from js-tiktoken plus Reka's special ids): the tokenizer against llama.cpp and against
// tiktoken itself, and the decoder (llama, GQA 4:1, no BOS, untied output over 100352 tokens) against
// llama.cpp in Q4_0 and Q4_K.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import { bytesSource, openGguf } from '../formats/gguf.ts';
import { openGgufPath } from '../formats/gguf-node.ts';
import type { GgmlTypeName } from '../formats/ggml-types.ts';
import { testGpu } from '../testing/gpu.ts';
import { openOracle } from '../testing/llama-oracle.ts';
import { compareLogits } from '../testing/compare-logits.ts';
import { rekaEdgeVocabulary } from '../testing/cl100k-vocab.ts';
import { writeRandomModelFile } from '../testing/random-model-file.ts';
import { TOKENIZER_CORPUS } from '../testing/tokenizer-fixtures.ts';
import { toyVocabGguf } from '../tokenizer/toy-vocab.ts';
import { loadTokenizer, type TextTokenizer } from '../tokenizer/tokenizer.ts';
import { Generator } from '../runtime/generate.ts';
import { loadLanguageModel } from './load.ts';
import { REKA_EDGE_STOP_TOKENS, REKA_EDGE_TOKENS, REKA_EDGE_VOCAB_SIZE, rekaEdgeChatPrompt, stripReplyLeadingSpace } from './reka-edge.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgewise-reka-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const show = (x: unknown) => JSON.stringify(x);

// Text a Reka Edge conversation holds: its turn format, tool calls, code, numbers, scripts and emoji.
const REKA_CORPUS = [
  ...TOKENIZER_CORPUS,
  'human: What is in this picture?<sep>assistant: A cat on a sofa.<sep>',
  '<tool_call>{"name": "get_weather", "arguments": {"city": "Zürich"}}</tool_call>',
  '<tool_response>{"temp_c": 21.5}</tool_response>',
  '<video><REKA_IMG_TOKEN><REKA_IMG_TOKEN></video> What happens at 00:03?',
  'def f(x):\n    return x ** 2  # squares\n\n\n',
  'Price: $1,234,567.89 — 12345678901234567890',
  '日本語のテキストと中文文本 và tiếng Việt',
  "I'm sure they'll've DONE it'S fine",
  '🧑‍🚀👩🏽‍💻 🇨🇭',
];

describe('Reka Edge vocabulary (cl100k_base + Reka specials)', () => {
  const vocab = rekaEdgeVocabulary();
  const tiktoken = new Tiktoken(cl100k);

  it('has 100352 tokens with Reka special ids where Reka puts them', () => {
    expect(vocab.size).toBe(REKA_EDGE_VOCAB_SIZE);
    const tokens = vocab.metadata['tokenizer.ggml.tokens'] as string[];
    expect(tokens[REKA_EDGE_TOKENS.sep]).toBe('<sep>');
    expect(tokens[REKA_EDGE_TOKENS.image]).toBe('<REKA_IMG_TOKEN>');
    expect(tokens[REKA_EDGE_TOKENS.endOfText]).toBe('<|endoftext|>');
  });

  for (const pre of ['dbrx', 'llama-bpe']) {
    it(`pre-tokenizer '${pre}': encodes and decodes as llama.cpp, and plain text as tiktoken`, { timeout: 300_000 }, async () => {
      const v = rekaEdgeVocabulary(pre);
      const bytes = toyVocabGguf({
        model: 'gpt2', pre, tokens: v.metadata['tokenizer.ggml.tokens'] as string[],
        extra: v.metadata,
      });
      const path = join(dir, `vocab-${pre}.gguf`);
      writeFileSync(path, bytes);
      const tok: TextTokenizer = loadTokenizer(await openGguf(bytesSource(bytes)));
      const oracle = await openOracle(path, { vocabOnly: true });
      try {
        const bad: string[] = [];
        let n = 0;
        for (const text of REKA_CORPUS) {
          for (const special of [false, true]) {
            const want = oracle.tokenize(text, { special });
            const got = tok.encode(text, { parseSpecial: special });
            n += want.length;
            if (show(got) !== show(want)) bad.push(`${show(text)}${special ? ' (special)' : ''}: ${show(got)} != llama.cpp ${show(want)}`);
            const back = tok.decode(want, { skipSpecial: !special });
            const wantBack = oracle.detokenize(want, { special });
            if (back !== wantBack) bad.push(`decode ${show(want)}: ${show(back)} != llama.cpp ${show(wantBack)}`);
          }
          // tiktoken knows nothing of Reka's specials: compare where the text has none.
          if (!/<[a-zA-Z_/|]/.test(text)) {
            const tk = tiktoken.encode(text, [], []);
            const ours = tok.encode(text);
            if (show(ours) !== show(tk)) bad.push(`${show(text)}: ${show(ours)} != tiktoken ${show(tk)}`);
          }
        }
        expect(bad).toEqual([]);
        // No BOS: add_bos_token false, as Reka Edge has none.
        expect(tok.encode('Hello', { addSpecial: true })).toEqual(tok.encode('Hello'));
        expect(tok.eos).toBe(REKA_EDGE_TOKENS.endOfText);
        for (const id of REKA_EDGE_STOP_TOKENS) expect(tok.eog.has(id), `id ${id}`).toBe(true);
        expect(n).toBeGreaterThan(REKA_CORPUS.length * 4);
      } finally {
        await oracle.close();
      }
    });
  }
});

// Reka Edge's decoder is hidden 4096, 32 layers, 32 heads / 8 KV heads, head dim 128, vocab 100352;
// the fixture keeps the GQA ratio, the vocabulary and the untied output at widths SwiftShader can run.
for (const weightType of ['Q4_0', 'Q4_K'] as GgmlTypeName[]) {
  describe(`Reka-Edge-shaped text model ${weightType} against llama.cpp`, () => {
    const CTX = 96;
    const path = join(dir, `reka-edge-${weightType}.gguf`);
    let tok: TextTokenizer;

    // Written as random quant blocks (the streamed writer): quantizing 2 x 25.7M floats to Q4_K in
    // JavaScript takes minutes on a loaded machine.
    beforeAll(async () => {
      await writeRandomModelFile(path, {
        arch: 'llama', weightType, seed: 9000 + weightType.length, vocab: REKA_EDGE_VOCAB_SIZE, vocabulary: rekaEdgeVocabulary(),
        nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 512, ctx: CTX, ropeBase: 1e6, rmsEps: 1e-5,
      });
    }, 300_000);

    it('tokenizes a prompt without BOS, matches logits, and greedy-decodes the same tokens', { timeout: 600_000 }, async () => {
      const gpu = await testGpu();
      const gguf = await openGgufPath(path);
      const oracle = await openOracle(path, { contextSize: CTX });
      const loaded = await loadLanguageModel(gpu, gguf, { contextLength: CTX, maxBatch: 16, llamaCppActivationRounding: true });
      tok = loadTokenizer(gguf);
      await gguf.close();
      const gen = new Generator(gpu, loaded.model);
      try {
        const text = 'human: Describe the weather in Zürich.<sep>assistant:';
        const prompt = tok.encode(text, { addSpecial: true, parseSpecial: true });
        expect(prompt).toEqual(oracle.tokenize(text, { special: true }));
        expect(prompt).toContain(REKA_EDGE_TOKENS.sep);

        const ref = await oracle.logits(prompt, { oneAtATime: true });
        const rows: Float32Array[] = [];
        for (let p = 0; p < prompt.length; p++) {
          const rec = gpu.recorder();
          loaded.model.forward(rec, [prompt[p]], p);
          rec.submit();
          rows.push(await gpu.readF32(loaded.model.logits));
        }
        const cmp = compareLogits(rows, ref);
        console.log(`reka-edge-shaped ${weightType}: ${prompt.length} positions, logits max |diff| ${cmp.maxAbsDiff.toExponential(2)}, top-1 ${cmp.top1Agree}/${cmp.rows}`);
        expect(cmp.top1Agree, cmp.message).toBe(cmp.rows);
        // Activation rounding mirrored: ~1e-5 until a rounding flips a step (see architectures.test.ts).
        expect(cmp.maxAbsDiff, cmp.message).toBeLessThan(0.5);
        expect(compareLogits(rows.slice(0, 3), ref.slice(0, 3)).maxAbsDiff).toBeLessThan(1e-4);

        const want = await oracle.greedy(prompt, 24);
        const got = await gen.generate(prompt, { maxTokens: 24, stopTokens: REKA_EDGE_STOP_TOKENS });
        expect(got.tokens, `ours ${show(tok.decode(got.tokens))} vs llama.cpp ${show(tok.decode(want))}`).toEqual(want);
        console.log(`reka-edge-shaped ${weightType}: ${want.length} greedy tokens identical to llama.cpp`);
      } finally {
        gen.dispose();
        loaded.model.dispose();
        loaded.weights.destroy();
        await oracle.close();
      }
    });
  });
}

describe('Reka Edge chat format', () => {
  it('renders turns, the system prompt, tools, tool calls and results as recorded', () => {
    expect(rekaEdgeChatPrompt([{ role: 'user', content: 'Hi!' }])).toBe('human: Hi! <sep> assistant:');
    expect(rekaEdgeChatPrompt([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is 2+2?' },
      { role: 'assistant', content: '4' },
      { role: 'user', content: 'And 3+3?' },
    ])).toBe('human: Be brief.\n\nWhat is 2+2? <sep> assistant: 4 <sep> human: And 3+3? <sep> assistant:');
    const tools = [{ name: 'get_weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
    const withTools = rekaEdgeChatPrompt([
      { role: 'user', content: 'Weather in Bern?' },
      { role: 'assistant', content: '', toolCalls: [{ name: 'get_weather', arguments: '{"city":"Bern"}' }] },
      { role: 'tool', content: '{"temp_c": 3}' },
    ], tools);
    expect(withTools).toBe(
      'human: You can call these tools. To call one, reply with <tool_call>{"name": <tool name>, "arguments": <arguments object>}</tool_call>.\n'
      + '{"name":"get_weather","description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}\n\n'
      + 'Weather in Bern? <sep> assistant: <tool_call>{"name":"get_weather","arguments":{"city":"Bern"}}</tool_call> <sep> '
      + 'human: <tool_response>{"temp_c": 3}</tool_response> <sep> assistant:',
    );
    expect(stripReplyLeadingSpace(' Sure')).toBe('Sure');
    expect(stripReplyLeadingSpace('Sure')).toBe('Sure');
  });

  it('tokenizes the prompt with <sep> as its special token and the tool markers as theirs', () => {
    const v = rekaEdgeVocabulary();
    const prompt = rekaEdgeChatPrompt([{ role: 'user', content: 'Hi' }, { role: 'assistant', content: '', toolCalls: [{ name: 'f', arguments: '{}' }] }]);
    return openGguf(bytesSource(toyVocabGguf({ model: 'gpt2', pre: 'dbrx', tokens: v.metadata['tokenizer.ggml.tokens'] as string[], extra: v.metadata }))).then((g) => {
      const ids = loadTokenizer(g).encode(prompt, { parseSpecial: true });
      expect(ids.filter((t) => t === REKA_EDGE_TOKENS.sep)).toHaveLength(2);
      expect(ids).toContain(REKA_EDGE_TOKENS.toolCallStart);
      expect(ids).toContain(REKA_EDGE_TOKENS.toolCallEnd);
    });
  });
});
