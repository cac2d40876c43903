// The benchmark's arithmetic and its yardstick, and the generation benchmark on stories260K.
import { describe, expect, test } from 'vitest';
import { join } from 'node:path';
import { openGgufPath } from '../formats/gguf-node.ts';
import { loadLanguageModel } from '../models/load.ts';
import { Generator } from '../runtime/generate.ts';
import { testGpu } from '../testing/gpu.ts';
import { benchGeneration } from './generation.ts';
import { copyBandwidth, kvBytesAt, kvBytesPerDecodedToken, median, summarize, weightBytesPerToken } from './measure.ts';

const MODELS = join(import.meta.dirname, '../../../shared/models');

describe('summaries and bytes per token', () => {
  test('median, min, max keep the runs in order', () => {
    expect(summarize([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, runs: [3, 1, 2] });
    expect(median([4, 1, 3, 2])).toBe(3);
    expect(summarize([]).median).toBeNaN();
  });

  test('weights per token: every tensor once, one embedding row unless the output is tied to the table', () => {
    const embd = { name: 'token_embd.weight', shape: [100, 8], byteLength: 3200 };
    const rest = [{ name: 'blk.0.attn_q.weight', shape: [8, 8], byteLength: 256 }, { name: 'output_norm.weight', shape: [8], byteLength: 32 }];
    expect(weightBytesPerToken([embd, ...rest])).toBe(32 + 3200 + 256 + 32);
    expect(weightBytesPerToken([embd, ...rest, { name: 'output.weight', shape: [100, 8], byteLength: 3200 }])).toBe(32 + 256 + 32 + 3200);
  });

  test('keys and values: F32, both, every layer, positions up to and including the current one', () => {
    const d = { nLayer: 2, nHeadKv: 3, headDim: 4 };
    expect(kvBytesAt(d, 0)).toBe(2 * 2 * 1 * 3 * 4 * 4);
    expect(kvBytesPerDecodedToken(d, 5, 2)).toBe((kvBytesAt(d, 5) + kvBytesAt(d, 6)) / 2);
    expect(kvBytesPerDecodedToken(d, 5, 0)).toBe(0);
  });
});

describe('on the device', () => {
  test('copy bandwidth: positive, from the asked number of timed copies', async () => {
    const gpu = await testGpu();
    const c = await copyBandwidth(gpu, 4 << 20, 3);
    expect(c.runsMs).toHaveLength(3);
    expect(c.bytes).toBe(4 << 20);
    expect(c.gbPerS).toBeGreaterThan(0);
    expect(Number.isFinite(c.gbPerS)).toBe(true);
  });

  test('generation benchmark on stories260K: the asked runs, one submission per decoded token, greedy tokens as a plain run gives, a kernel split', async () => {
    const gpu = await testGpu();
    const gguf = await openGgufPath(join(MODELS, 'stories260K.gguf'));
    const { model, weights } = await loadLanguageModel(gpu, gguf, { contextLength: 32, maxBatch: 8 });
    await gguf.close();
    try {
      const prompt = [1, 403, 407, 261, 378];
      const plain = new Generator(gpu, model);
      const expected = (await plain.generate(prompt, { maxTokens: 5 })).tokens;
      plain.dispose();
      const messages: string[] = [];
      const b = await benchGeneration(gpu, model, prompt, { genTokens: 5, reps: 2, profileSteps: 3, onProgress: (m) => messages.push(m) });
      expect(b.runs).toHaveLength(2);
      for (const r of b.runs) {
        expect(r.decodeSteps).toBe(4);
        expect(r.prefillMs).toBeGreaterThan(0);
        expect(r.ttftMs).toBeGreaterThanOrEqual(r.prefillMs);
      }
      expect(b.firstTokens).toEqual(expected);
      expect(b.prefillTokensPerS.runs).toHaveLength(2);
      expect(b.decodeTokensPerS.median).toBeGreaterThan(0);
      expect(b.perToken.submits).toBe(1);
      expect(b.perToken.dispatches).toBeGreaterThan(5);
      expect(messages[0]).toMatch(/^warm-up/);
      if (gpu.profiler.supported) {
        expect(b.kernels).not.toBeNull();
        expect(b.kernels!.decodeForwards).toBe(4);
        expect(b.kernels!.decode.some((k) => /matmul/.test(k.label))).toBe(true);
        expect(b.kernels!.prefill.reduce((s, k) => s + k.totalMs, 0)).toBeGreaterThan(0);
      }
      await expect(benchGeneration(gpu, model, prompt, { genTokens: 1, reps: 1 })).rejects.toThrow(RangeError);
      const ac = new AbortController();
      ac.abort();
      await expect(benchGeneration(gpu, model, prompt, { genTokens: 3, reps: 1, signal: ac.signal })).rejects.toThrow('stopped');
    } finally {
      model.dispose();
      weights.destroy();
    }
  });
});
