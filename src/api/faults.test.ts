// The engine through faults (issue 8): the device lost mid-generation (reported, then a reload works on a
// new device), an abort storm over concurrent requests (the engine stays consistent: the next greedy
// reply equals the one before the storm), and 1,000 requests in a row with GPU buffers flat.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createInThreadEngine } from './engine.ts';
import { ApiError } from './errors.ts';
import type { ChatCompletionChunk, CompletionChunk } from './types.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { testGpu } from '../testing/gpu.ts';
import { Rng } from '../testing/rng.ts';

const MODEL = join(__dirname, '../../../shared/models/stories260K.gguf');
const PROMPT = 'Once upon a time';

describe('engine faults', () => {
  it('device lost mid-stream: the stream fails with a device error, requests say so, a reload runs on a new device', { timeout: 300_000 }, async () => {
    const engine = createInThreadEngine(); // owns its device
    await engine.loadModel({ model: MODEL });
    const want = await engine.completions.create({ prompt: PROMPT, max_tokens: 24, temperature: 0 });
    const stream = await engine.completions.create({ prompt: PROMPT, max_tokens: 200, temperature: 0, stream: true });
    const gpu = (engine as unknown as { gpu: Gpu }).gpu;
    let chunks = 0;
    let failure: unknown = null;
    try {
      for await (const c of stream as AsyncIterable<CompletionChunk>) {
        if (++chunks === 3) gpu.device.destroy();
        void c;
      }
    } catch (e) {
      failure = e;
    }
    expect(failure, `stream ended after ${chunks} chunks without an error`).toBeInstanceOf(ApiError);
    expect((failure as ApiError).body.error.type).toBe('device_error');
    expect(chunks).toBeLessThan(200);
    const next = await engine.completions.create({ prompt: PROMPT, max_tokens: 4 }).catch((e) => e);
    expect(next).toBeInstanceOf(ApiError);
    expect((next as ApiError).message).toMatch(/device was lost.*loadModel\(\) again/);
    await engine.loadModel({ model: MODEL });
    const again = await engine.completions.create({ prompt: PROMPT, max_tokens: 24, temperature: 0 });
    expect(again.choices[0].tokens).toEqual(want.choices[0].tokens);
    expect((engine as unknown as { gpu: Gpu }).gpu).not.toBe(gpu);
    await engine.dispose();
  });

  it('a device given by the caller and lost is reported, not replaced', { timeout: 120_000 }, async () => {
    const { Gpu: GpuClass } = await import('../gpu/gpu.ts');
    const gpu = await GpuClass.create();
    const engine = createInThreadEngine({ gpu });
    await engine.loadModel({ model: MODEL });
    gpu.device.destroy();
    const r = await engine.completions.create({ prompt: PROMPT, max_tokens: 8 }).catch((e) => e);
    expect(r).toBeInstanceOf(ApiError);
    const again = await engine.loadModel({ model: MODEL }).catch((e) => e);
    expect((again as ApiError).message).toMatch(/given to this engine was lost/);
  });

  it('an abort storm over concurrent requests leaves the engine consistent', { timeout: 600_000 }, async () => {
    const gpu = await testGpu();
    const engine = createInThreadEngine({ gpu });
    await engine.loadModel({ model: MODEL });
    const solo = await engine.chat.completions.create({ messages: [{ role: 'user', content: PROMPT }], max_tokens: 16, temperature: 0 });
    // Warm the sampler too: its workspace is made on the first sampled request and then kept.
    await engine.chat.completions.create({ messages: [{ role: 'user', content: PROMPT }], max_tokens: 2, temperature: 0.8, seed: 1 });
    const rng = new Rng(404);
    const before = gpu.stats();
    const jobs: Promise<string>[] = [];
    for (let i = 0; i < 24; i++) {
      const ac = new AbortController();
      const stream = i % 3 !== 0;
      const when = rng.int(0, 4); // 0: before it runs, 1..3: after that many chunks (streams) or ms
      const req = { messages: [{ role: 'user' as const, content: `${PROMPT} ${i}` }], max_tokens: 12, temperature: i % 2 ? 0.8 : 0, seed: i, signal: ac.signal };
      if (when === 0) ac.abort();
      jobs.push((async () => {
        try {
          if (stream) {
            let n = 0;
            for await (const c of (await engine.chat.completions.create({ ...req, stream: true })) as AsyncIterable<ChatCompletionChunk>) {
              void c;
              if (++n === when) ac.abort();
            }
            return 'done';
          }
          if (when > 0) setTimeout(() => ac.abort(), when);
          await engine.chat.completions.create(req);
          return 'done';
        } catch (e) {
          return e instanceof ApiError && e.body.error.type === 'aborted' ? 'aborted' : `unexpected: ${String(e)}`;
        }
      })());
    }
    const outcomes = await Promise.all(jobs);
    console.log(`abort storm: ${outcomes.filter((o) => o === 'aborted').length} aborted, ${outcomes.filter((o) => o === 'done').length} completed of ${outcomes.length}`);
    expect(outcomes.filter((o) => o.startsWith('unexpected'))).toEqual([]);
    expect(outcomes).toContain('aborted');
    const after = await engine.chat.completions.create({ messages: [{ role: 'user', content: PROMPT }], max_tokens: 16, temperature: 0 });
    expect(after.choices[0].message.content).toBe(solo.choices[0].message.content);
    expect(gpu.stats().liveBuffers).toBe(before.liveBuffers);
    await engine.dispose();
  });

  it('1,000 requests in a row keep GPU buffers, bytes and bind groups flat', { timeout: 900_000 }, async () => {
    const gpu = await testGpu();
    const engine = createInThreadEngine({ gpu });
    await engine.loadModel({ model: MODEL });
    const ask = (i: number) => engine.completions.create({ prompt: `${PROMPT}${' there'.repeat(i % 5)}`, max_tokens: 2, temperature: i % 2 ? 0.7 : 0, seed: i });
    for (let i = 0; i < 10; i++) await ask(i); // warm: every pipeline and workspace in use
    const before = gpu.stats();
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) {
      const r = await ask(i);
      expect(r.usage.completion_tokens).toBeGreaterThan(0);
    }
    const after = gpu.stats();
    console.log(`1000 requests in ${((performance.now() - t0) / 1000).toFixed(1)} s: live buffers ${before.liveBuffers} -> ${after.liveBuffers}, live bytes ${before.liveBytes} -> ${after.liveBytes}, created ${before.created} -> ${after.created}, bind groups ${before.bindGroups} -> ${after.bindGroups}, pipelines ${before.pipelines} -> ${after.pipelines}`);
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.created).toBe(before.created);
    expect(after.bindGroups).toBe(before.bindGroups);
    expect(after.pipelines).toBe(before.pipelines);
    await engine.dispose();
  });
});
