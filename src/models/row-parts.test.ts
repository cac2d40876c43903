// A model whose vocabulary tables exceed one binding (Reka Edge's 100352-row output is ~330 MB in Q6_K;
// devices with 128 MiB bindings exist) loads them in row parts and computes the same logits, bit for bit,
// as the same model with whole tables; the memory plan checks the parts, not the whole tables.
import { describe, expect, it } from 'vitest';
import { bytesSource, openGguf } from '../formats/gguf.ts';
import { testGpu } from '../testing/gpu.ts';
import { writeRandomModel } from '../testing/random-model.ts';
import { DeviceLimitError } from '../gpu/errors.ts';
import { checkLanguageModel, loadLanguageModel, planGpuMemory } from './load.ts';

describe('vocabulary tables in row parts', () => {
  for (const tied of [false, true]) {
    it(`${tied ? 'tied' : 'untied'} Q8_0 model: parts give the whole-table logits exactly, prefill and decode`, { timeout: 120_000 }, async () => {
      const gpu = await testGpu();
      const vocab = 1000, nEmbd = 128;
      const file = writeRandomModel({ arch: 'llama', weightType: 'Q8_0', seed: 77 + Number(tied), tied, vocab, nEmbd, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 256, ctx: 64 });
      const rowBytes = (nEmbd / 32) * 34;
      const cap = 300 * rowBytes; // 300 rows -> parts of 256 rows (a multiple of 64): 256, 256, 256, 232
      const run = async (maxWeightPartBytes?: number) => {
        const gguf = await openGguf(bytesSource(file));
        const m = await loadLanguageModel(gpu, gguf, { contextLength: 64, maxBatch: 8, maxWeightPartBytes });
        const rows: Float32Array[] = [];
        const seq = [1, 999, 500, 256, 255, 3, 768, 767, 42];
        let rec = gpu.recorder();
        m.model.forward(rec, seq.slice(0, 6), 0);
        rec.submit();
        rows.push(await gpu.readF32(m.model.logits));
        for (let p = 6; p < seq.length; p++) {
          rec = gpu.recorder();
          m.model.forward(rec, [seq[p]], p);
          rec.submit();
          rows.push(await gpu.readF32(m.model.logits));
        }
        const parts = m.weights.parts(tied ? 'token_embd.weight' : 'output.weight').map((p) => [p.row0, p.t.shape[0]]);
        const embParts = m.weights.parts('token_embd.weight').length;
        m.model.dispose();
        m.weights.destroy();
        return { rows, parts, embParts };
      };
      const whole = await run();
      const split = await run(cap);
      expect(whole.parts).toEqual([[0, vocab]]);
      expect(split.parts).toEqual([[0, 256], [256, 256], [512, 256], [768, 232]]);
      expect(split.embParts).toBe(4);
      for (let i = 0; i < whole.rows.length; i++) expect(split.rows[i], `row ${i}`).toEqual(whole.rows[i]);
      expect(whole.rows[0].some((v) => v !== 0)).toBe(true);
    });
  }

  it('plans parts against the binding limit instead of refusing the whole table', async () => {
    const file = writeRandomModel({ arch: 'llama', weightType: 'F32', seed: 5, vocab: 4096, nEmbd: 64, nLayer: 1, nHead: 2, nFf: 64, ctx: 32 });
    const gguf = await openGguf(bytesSource(file));
    const hp = checkLanguageModel(gguf);
    const llm = { contextLength: 32, maxBatch: 4 };
    const limits = { maxStorageBufferBindingSize: 256 << 10, maxBufferSize: 1 << 30 }; // tables are 1 MiB
    const plan = planGpuMemory(gguf, hp, llm, limits);
    expect(plan.largest.bytes).toBeLessThanOrEqual(256 << 10);
    expect(plan.largest.label).toMatch(/weight rows \d+\.\.\d+/);
    // A limit below 64 rows of the table cannot be met by parts: the table is named in the error.
    const tooSmall = () => planGpuMemory(gguf, hp, llm, { ...limits, maxStorageBufferBindingSize: 63 * 64 * 4 });
    expect(tooSmall).toThrow(DeviceLimitError);
    expect(tooSmall).toThrow(/token_embd/);
  });
});
