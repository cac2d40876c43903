// The generator's stopping and sampling features on the real stories260K model: stop strings split over
// tokens, the penalties against the plain-TS reference applied to the very logits each token came
// from, seeded sampling, abort and a full KV cache.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { openGgufPath } from '../formats/gguf-node.ts';
import { testGpu } from '../testing/gpu.ts';
import { loadLanguageModel, type LoadedModel } from '../models/load.ts';
import { loadTokenizer, type TextTokenizer } from '../tokenizer/tokenizer.ts';
import { argmaxRow, penalizeRow, sampleRowRef } from '../reference/sample.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { ContextOverflowError, Generator, type GenerateOptions, type SamplingOptions } from './generate.ts';
import { StopStringMatcher } from './stop-strings.ts';
import { openOracle } from '../testing/llama-oracle.ts';

const MODEL = join(__dirname, '../../../shared/models/stories260K.gguf');

describe('StopStringMatcher', () => {
  it('never releases text that could start a stop string, and cuts at the earliest match', () => {
    const m = new StopStringMatcher(['</end>', 'xyz']);
    const out: string[] = [];
    for (const piece of ['abc<', '/e', 'nd', '> tail']) {
      const r = m.push(piece);
      out.push(r.text);
      if (r.stopped) { expect(r.stopped).toBe('</end>'); break; }
    }
    expect(out).toEqual(['abc', '', '', '']);
    expect(m.flush()).toBe('');
  });

  it('releases held text that turned out not to be a stop string', () => {
    const m = new StopStringMatcher(['STOP']);
    expect(m.push('a ST').text).toBe('a ');
    expect(m.push('OR').text).toBe('STOR');
    expect(m.push('x S').text).toBe('x ');
    expect(m.flush()).toBe('S');
  });
});

describe('Generator on stories260K', () => {
  let gpu: Gpu;
  let loaded: LoadedModel;
  let tok: TextTokenizer;
  let gen: Generator;
  let prompt: number[];

  beforeAll(async () => {
    gpu = await testGpu();
    const gguf = await openGgufPath(MODEL);
    tok = loadTokenizer(gguf);
    loaded = await loadLanguageModel(gpu, gguf, { contextLength: 256, maxBatch: 32 });
    await gguf.close();
    gen = new Generator(gpu, loaded.model);
    prompt = tok.encode('Once upon a time', { addSpecial: true });
  });

  afterAll(() => {
    gen?.dispose();
    loaded?.model.dispose();
    loaded?.weights.destroy();
  });

  it('stops on a stop string split across tokens and emits none of it', async () => {
    const full = await gen.generate(prompt, { maxTokens: 40, stopTokens: [...tok.eog] });
    // Per-token pieces of the greedy text; the stop string takes the end of one piece and the start of the next.
    const dec = tok.decodeStream();
    const pieces = full.tokens.map((id) => dec.push(id));
    const k = pieces.findIndex((p, i) => i >= 3 && p.length >= 3 && (pieces[i + 1]?.length ?? 0) >= 3);
    expect(k, `pieces: ${JSON.stringify(pieces)}`).toBeGreaterThan(0);
    const stop = pieces[k].slice(-2) + pieces[k + 1].slice(0, 2);
    const before = pieces.slice(0, k + 2).join('');
    const expected = before.slice(0, before.indexOf(stop));

    const emitted: string[] = [];
    const r = await gen.generate(prompt, {
      maxTokens: 40, stopTokens: [...tok.eog],
      text: { decoder: tok.decodeStream(), stop: ['never appears \u0001', stop], onText: (t) => emitted.push(t) },
    });
    expect(r.stoppedBy).toBe('stop_string');
    expect(r.text).toBe(expected);
    expect(emitted.join('')).toBe(expected);
    expect(r.tokens).toEqual(full.tokens.slice(0, r.tokens.length));
    // It stops on the token that completes the stop string, no earlier and no later.
    const firstEnd = pieces.findIndex((_, i) => pieces.slice(0, i + 1).join('').includes(stop));
    expect(r.tokens.length).toBe(firstEnd + 1);
    // Nothing emitted ever contained a prefix of the stop string at its end that later became the stop.
    for (const t of emitted) expect(t.includes(stop)).toBe(false);
  });

  /** Generate while reading back, for every token, the logits it was chosen from. */
  async function generateWithLogits(p: number[], opts: GenerateOptions): Promise<{ tokens: number[]; logits: Float32Array[] }> {
    const reads: Promise<Float32Array>[] = [];
    // onToken runs before the next forward pass is recorded, so this copy sees the logits of this token.
    const r = await gen.generate(p, { ...opts, onToken: (id) => { reads.push(gpu.readF32(loaded.model.logits)); opts.onToken?.(id); } });
    return { tokens: r.tokens, logits: await Promise.all(reads) };
  }

  it('applies repetition/presence/frequency penalties over the last 64 tokens, as the reference does (greedy)', async () => {
    // A prompt longer than the window, so that llama.cpp's last-n cut matters.
    const long = tok.encode('Once upon a time there was a little girl named Lily. She loved to play outside in the park with her friends. One day she saw a big red ball.', { addSpecial: true });
    expect(long.length).toBeGreaterThan(30);
    const sampling: SamplingOptions = { temperature: 0, seed: 1, repetitionPenalty: 1.3, presencePenalty: 0.4, frequencyPenalty: 0.3, penaltyLastN: 16 };
    const { tokens, logits } = await generateWithLogits(long, { maxTokens: 24, sampling });
    const plain = await gen.generate(long, { maxTokens: 24 });
    expect(tokens, 'the penalties change the greedy continuation').not.toEqual(plain.tokens);
    let windowMattered = 0;
    tokens.forEach((t, i) => {
      const history = [...long, ...tokens.slice(0, i)];
      const want = argmaxRow(penalizeRow(logits[i], history.slice(-16), 1.3, 0.3, 0.4));
      expect(t, `step ${i}`).toBe(want);
      if (argmaxRow(penalizeRow(logits[i], history, 1.3, 0.3, 0.4)) !== want) windowMattered++;
    });
    expect(windowMattered, 'penalising the whole history would have chosen differently somewhere').toBeGreaterThan(0);

    // The default window is llama.cpp's 64.
    const def = await generateWithLogits(long, { maxTokens: 12, sampling: { temperature: 0, seed: 1, repetitionPenalty: 1.5 } });
    def.tokens.forEach((t, i) => {
      const history = [...long, ...def.tokens.slice(0, i)].slice(-64);
      expect(t, `step ${i}`).toBe(argmaxRow(penalizeRow(def.logits[i], history, 1.5, 0, 0)));
    });
  });

  it("penalised greedy equals llama.cpp's penalties sampler token for token (node-llama-cpp oracle)", { timeout: 600_000 }, async () => {
    const oracle = await openOracle(MODEL, { contextSize: 256 });
    try {
      const cases = [
        { text: 'Once upon a time', p: { repeat: 1.3, frequency: 0.3, presence: 0.4, lastN: 64 } },
        { text: 'Lily and Tom went to the park. They played with a ball and a big red kite all day.', p: { repeat: 1.5, frequency: 0, presence: 0, lastN: 16 } },
        { text: 'The little dog', p: { repeat: 1, frequency: 0.5, presence: 0.5, lastN: 64 } },
      ];
      let matched = 0;
      for (const { text, p } of cases) {
        const ids = oracle.tokenize(text, { addBos: true });
        const want = await oracle.greedyPenalized(ids, 48, p);
        const got = await gen.generate(ids, {
          maxTokens: 48, stopTokens: [...tok.eog],
          sampling: { temperature: 0, seed: 0, repetitionPenalty: p.repeat, frequencyPenalty: p.frequency, presencePenalty: p.presence, penaltyLastN: p.lastN },
        });
        expect(got.tokens, `"${text}" ${JSON.stringify(p)}: ours "${oracle.detokenize(got.tokens)}" vs llama.cpp "${oracle.detokenize(want)}"`).toEqual(want);
        const plain = await oracle.greedy(ids, 48);
        expect(want, 'the penalties change llama.cpp\'s continuation').not.toEqual(plain);
        matched += want.length;
      }
      console.log(`penalised greedy: ${matched} tokens identical to llama.cpp over ${cases.length} prompts`);
    } finally {
      await oracle.close();
    }
  });

  it('samples from the penalised distribution the reference computes (top-k, top-p, min-p, temperature, seed)', async () => {
    const sampling: SamplingOptions = { temperature: 0.9, topK: 40, topP: 0.95, minP: 0.02, seed: 1234, repetitionPenalty: 1.2, frequencyPenalty: 0.2, presencePenalty: 0.1 };
    const { tokens, logits } = await generateWithLogits(prompt, { maxTokens: 32, sampling });
    let checked = 0;
    tokens.forEach((t, i) => {
      const history = [...prompt, ...tokens.slice(0, i)].slice(-64);
      const ref = sampleRowRef(logits[i], { ...sampling, penaltyTokens: history, step: i }, 0);
      // A draw within float rounding of a boundary may go either way; everything else must agree.
      if (ref.drawMargin < 1e-5 || ref.topPMargin < 1e-5) return;
      expect(t, `step ${i}`).toBe(ref.token);
      checked++;
    });
    expect(checked).toBeGreaterThanOrEqual(28);
  });

  it('seeded sampling is reproducible, with or without the cached prefix, and the seed matters', async () => {
    const sampling: SamplingOptions = { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 77, repetitionPenalty: 1.1 };
    const a = await gen.generate(prompt, { maxTokens: 24, sampling });
    const b = await gen.generate(prompt, { maxTokens: 24, sampling });
    expect(b.cachedPromptTokens).toBe(prompt.length - 1);
    gen.reset();
    const c = await gen.generate(prompt, { maxTokens: 24, sampling });
    expect(c.cachedPromptTokens).toBe(0);
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).toEqual(a.tokens);
    const d = await gen.generate(prompt, { maxTokens: 24, sampling: { ...sampling, seed: 78 } });
    expect(d.tokens).not.toEqual(a.tokens);
  });

  it('aborts within one token and stays usable', async () => {
    const ac = new AbortController();
    let n = 0;
    const r = await gen.generate(prompt, { maxTokens: 40, signal: ac.signal, onToken: () => { if (++n === 3) ac.abort(); } });
    expect(r.stoppedBy).toBe('abort');
    expect(r.tokens.length).toBe(3);
    expect(r.decodeSteps).toBe(2);
    const again = await gen.generate(prompt, { maxTokens: 5 });
    expect(again.tokens.slice(0, 3)).toEqual(r.tokens);
  });

  it('stops with context_full when the KV cache is full, and refuses a prompt longer than the context', async () => {
    const gguf = await openGgufPath(MODEL);
    const small = await loadLanguageModel(gpu, gguf, { contextLength: 24, maxBatch: 8 });
    await gguf.close();
    const g = new Generator(gpu, small.model);
    try {
      const p = tok.encode('Once upon a time there was a little girl named Lily.', { addSpecial: true });
      expect(p.length).toBeLessThan(24);
      const r = await g.generate(p, { maxTokens: 100 });
      expect(r.stoppedBy).toBe('context_full');
      // Every position of the cache holds a token; the last one's successor is the last token returned.
      expect(r.tokens.length).toBe(24 - p.length + 1);
      const big = Array.from({ length: 25 }, () => p[1]);
      await expect(g.generate(big, { maxTokens: 1 })).rejects.toBeInstanceOf(ContextOverflowError);
      const ok = await g.generate(p, { maxTokens: 2 });
      expect(ok.tokens).toEqual(r.tokens.slice(0, 2));
    } finally {
      g.dispose();
      small.model.dispose();
      small.weights.destroy();
    }
  });
});
