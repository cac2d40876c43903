// The llama.cpp oracle on the shared tiny models: the known TinyStories continuation, greedy = argmax
// of the logits, batch vs token-by-token logits, quantized vs F32, tokenization and the fixtures.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openOracle, type LlamaOracle } from './llama-oracle.ts';
import { argmax, compareLogits } from './compare-logits.ts';
import { buildTokenizerFixture, loadTokenizerFixture, modelPath, TOKENIZER_VOCABS } from './tokenizer-fixtures.ts';

const LILY = ', there was a little girl named Lily';
const STORIES = { F32: 'stories260K.gguf', Q8_0: 'stories260K-q8_0.gguf', Q4_0: 'stories260K-q4_0.gguf' } as const;
type StoriesType = keyof typeof STORIES;

let stories: Record<StoriesType, LlamaOracle>;
let llama2: LlamaOracle; // vocabulary only
let phi3: LlamaOracle; // the file has no tensors
let loadMs = 0;

beforeAll(async () => {
  const t0 = performance.now();
  // All at once: the oracles share one llama.cpp instance, whose start-up (it test-loads the binary in
  // a child process) costs seconds.
  const [f32, q8, q4, l2, p3] = await Promise.all([
    openOracle(modelPath(STORIES.F32), { contextSize: 128 }),
    openOracle(modelPath(STORIES.Q8_0), { contextSize: 128 }),
    openOracle(modelPath(STORIES.Q4_0), { contextSize: 128 }),
    openOracle(modelPath('llama-2-tiny-random.gguf'), { vocabOnly: true }),
    openOracle(modelPath('ggml-vocab-phi-3.gguf'), { vocabOnly: true }),
  ]);
  stories = { F32: f32, Q8_0: q8, Q4_0: q4 };
  llama2 = l2;
  phi3 = p3;
  loadMs = performance.now() - t0;
});

afterAll(async () => {
  await Promise.all([...Object.values(stories ?? {}), llama2, phi3].filter(Boolean).map((o) => o.close()));
});

describe('llama oracle: stories260K', () => {
  it('loads llama.cpp and five models in reasonable time', () => {
    expect(stories.F32.version).toMatch(/^node-llama-cpp 3\.22\.1, llama\.cpp /);
    expect(loadMs).toBeLessThan(60_000);
  });

  it.each(Object.keys(STORIES) as StoriesType[])('%s: greedy from BOS + "Once upon a time" tells of Lily', async (type) => {
    const oracle = stories[type];
    const prompt = oracle.tokenize('Once upon a time', { addBos: true });
    expect(prompt).toEqual([1, 403, 407, 261, 378]);
    const out = await oracle.greedy(prompt, 24);
    expect(out).toHaveLength(24);
    expect(oracle.detokenize(out)).toMatch(new RegExp(`^${LILY}`));
    expect(oracle.timings.lastEval?.tokens).toBe(prompt.length + 24);
  });

  it('greedy picks the argmax of the logits at every step', async () => {
    const oracle = stories.F32;
    const prompt = oracle.tokenize('Once upon a time', { addBos: true });
    const out = await oracle.greedy(prompt, 30);
    const rows = await oracle.logits([...prompt, ...out]);
    expect(rows).toHaveLength(prompt.length + out.length);
    expect(rows.every((r) => r.length === 512 && r.every(Number.isFinite))).toBe(true);
    const picked = rows.slice(prompt.length - 1, -1).map(argmax);
    expect(picked).toEqual(out);
  });

  it.each(Object.keys(STORIES) as StoriesType[])('%s: batched and token-by-token logits agree', async (type) => {
    const oracle = stories[type];
    const ids = [...oracle.tokenize('Once upon a time', { addBos: true }), ...(await oracle.greedy(oracle.tokenize('Once upon a time', { addBos: true }), 20))];
    const batched = await oracle.logits(ids);
    const stepped = await oracle.logits(ids, { oneAtATime: true });
    const c = compareLogits(batched, stepped);
    // Measured here: F32 7.6e-6 (llama.cpp's batched F32 matmul sums in another order), Q8_0/Q4_0 0.
    expect(c.maxAbsDiff, c.message).toBeLessThan(1e-4);
    expect(c.top1Agree, c.message).toBe(ids.length);
  });

  it('quantized models track the F32 logits', async () => {
    const f32 = stories.F32;
    const prompt = f32.tokenize('Once upon a time', { addBos: true });
    const ids = [...prompt, ...(await f32.greedy(prompt, 25))];
    const ref = await f32.logits(ids);
    const q8 = compareLogits(await stories.Q8_0.logits(ids), ref);
    const q4 = compareLogits(await stories.Q4_0.logits(ids), ref);
    // Measured here: Q8_0 max 0.37, argmax 30/30; Q4_0 max 8.7, argmax 29/30. A model with scrambled
    // weights would agree on almost nothing.
    expect(q8.maxAbsDiff, q8.message).toBeLessThan(1);
    expect(q8.top1Agree, q8.message).toBe(ids.length);
    expect(q4.maxAbsDiff, q4.message).toBeLessThan(16);
    expect(q4.top1Agree, q4.message).toBeGreaterThanOrEqual(0.75 * ids.length);
  });

  it('rejects what llama.cpp would silently mishandle', async () => {
    const oracle = stories.F32;
    await expect(oracle.greedy([], 4)).rejects.toThrow(/greedy: empty prompt/);
    await expect(oracle.logits([1, 512])).rejects.toThrow(/token id 512 outside vocabulary of 512/);
    await expect(oracle.greedy([1, -1], 4)).rejects.toThrow(/token id -1/);
    // llama.cpp rounds the context up (to 256 here): the check uses what it allocated.
    expect(oracle.contextSize).toBeGreaterThanOrEqual(128);
    const n = oracle.contextSize - 1;
    await expect(oracle.greedy([1, 403], n)).rejects.toThrow(new RegExp(`2 prompt \\+ ${n} new tokens exceed contextSize ${n + 1}`));
    expect(() => oracle.tokenize('<s>', { addBos: true, special: true })).not.toThrow();
  });
});

describe('llama oracle: tokenizers', () => {
  it('reports vocabularies and special tokens', () => {
    expect([stories.F32.vocabSize, llama2.vocabSize, phi3.vocabSize]).toEqual([512, 32000, 32064]);
    expect([stories.F32.bos, stories.F32.eos, llama2.bos, llama2.eos, phi3.bos, phi3.eos]).toEqual([1, 2, 1, 2, 1, 32000]);
  });

  it('parses special-token text only when asked', () => {
    for (const oracle of [stories.F32, llama2, phi3]) {
      expect(oracle.tokenize('<s>', { special: true })).toEqual([1]);
      expect(oracle.tokenize('<s>')).not.toContain(1);
      expect(oracle.tokenize('Hi', { addBos: true })[0]).toBe(1);
    }
    expect(phi3.tokenize('<|endoftext|>', { special: true })).toEqual([32000]);
    expect(llama2.tokenize('<|endoftext|>', { special: true })).not.toContain(32000);
  });

  it('tokenizes with a vocabulary-only GGUF but cannot evaluate it', async () => {
    expect(phi3.tokenize('Hello, world!')).toEqual([15043, 29892, 3186, 29991]);
    expect(phi3.detokenize([15043, 29892, 3186, 29991])).toBe('Hello, world!');
    await expect(phi3.greedy([1, 15043], 2)).rejects.toThrow(/opened vocabOnly/);
  });

  it.each(TOKENIZER_VOCABS.map((v) => v.name))('fixture tokenizer-%s.json is what llama.cpp says today', (name) => {
    const vocab = TOKENIZER_VOCABS.find((v) => v.name === name)!;
    const oracle = { 'stories260K': stories.F32, 'llama-2': llama2, 'phi-3': phi3 }[name]!;
    const fresh = buildTokenizerFixture(oracle, vocab);
    const committed = loadTokenizerFixture(name);
    // On failure: `npx tsx scripts/gen-tokenizer-fixtures.ts` and review the diff.
    expect(committed).toEqual(fresh);
    expect(committed.cases.length).toBeGreaterThan(30);
  });
});

describe('llama oracle: lifecycle', () => {
  it('closes idempotently and refuses use afterwards', async () => {
    const oracle = await openOracle(modelPath(STORIES.F32), { vocabOnly: true });
    expect(oracle.tokenize('Once')).toEqual([403]);
    await oracle.close();
    await oracle.close();
    expect(() => oracle.tokenize('Once')).toThrow(/is closed/);
  });

  it('names the file, and the reason llama.cpp gives, when it cannot load', async () => {
    await expect(openOracle('/nonexistent/model.gguf')).rejects.toThrow(/cannot load \/nonexistent\/model\.gguf/);
    await expect(openOracle(modelPath('ggml-vocab-phi-3.gguf'))).rejects.toThrow(/ggml-vocab-phi-3\.gguf.*missing tensor 'token_embd\.weight'/);
  });
});
