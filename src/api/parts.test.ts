// The engine's small parts without a GPU: hf:// references, the FIFO queue, the stream channel, raw
// prompt truncation, and which engine createEngine() picks in Node.
import { describe, expect, it } from 'vitest';
import { createEngine, InThreadEngine } from '../index.ts';
import { Channel } from './channel.ts';
import { ApiError } from './errors.ts';
import { resolveHfUrl } from './model-source.ts';
import { fitRaw } from './prompt.ts';
import { RequestQueue } from './request-queue.ts';
import { checkSampling } from './validate.ts';

describe('resolveHfUrl', () => {
  it('maps hf://owner/repo/file[@rev] to the hub resolve URL', () => {
    expect(resolveHfUrl('hf://ggml-org/models/tinyllamas/stories260K.gguf')).toBe('https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf');
    expect(resolveHfUrl('hf://bartowski/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct-Q4_0.gguf@v1.0')).toBe('https://huggingface.co/bartowski/SmolLM2-135M-Instruct-GGUF/resolve/v1.0/SmolLM2-135M-Instruct-Q4_0.gguf');
    expect(() => resolveHfUrl('hf://only-owner')).toThrow(ApiError);
  });
});

describe('RequestQueue', () => {
  it('runs jobs one at a time in arrival order; an aborted waiter never runs', async () => {
    const q = new RequestQueue();
    const log: string[] = [];
    const job = (name: string, ms: number) => async () => {
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${name}`);
      return name;
    };
    const ac = new AbortController();
    const a = q.run(job('a', 30));
    const b = q.run(job('b', 1), ac.signal);
    const c = q.run(job('c', 5));
    expect(q.length).toBe(3);
    ac.abort();
    await expect(b).rejects.toMatchObject({ body: { error: { type: 'aborted' } } });
    expect(await a).toBe('a');
    expect(await c).toBe('c');
    expect(log).toEqual(['start a', 'end a', 'start c', 'end c']);
    expect(q.length).toBe(0);
    // A failing job does not block the ones after it.
    const bad = q.run(async () => { throw new Error('boom'); });
    const next = q.run(async () => 'next');
    await expect(bad).rejects.toThrow('boom');
    expect(await next).toBe('next');
  });
});

describe('Channel', () => {
  it('buffers items for a late reader, ends, fails, and reports an early exit', async () => {
    const ch = new Channel<number>();
    ch.push(1);
    ch.push(2);
    ch.end();
    const got: number[] = [];
    for await (const x of ch) got.push(x);
    expect(got).toEqual([1, 2]);

    const failing = new Channel<number>();
    failing.push(1);
    failing.fail(new Error('broken'));
    const seen: number[] = [];
    await expect((async () => { for await (const x of failing) seen.push(x); })()).rejects.toThrow('broken');
    expect(seen).toEqual([1]);

    const early = new Channel<number>();
    let cancelled = 0;
    early.onCancel = () => cancelled++;
    setTimeout(() => early.push(7), 5);
    for await (const x of early) { expect(x).toBe(7); break; }
    expect(cancelled).toBe(1);
    early.push(8); // after the reader left: dropped, no error
  });
});

describe('fitRaw', () => {
  it("keeps BOS and the newest tokens under 'truncate', refuses under 'error'", () => {
    const toks = [1, 10, 11, 12, 13, 14, 15, 16, 17, 18];
    expect(fitRaw(toks, 1, 20, 5, 'error').tokens).toEqual(toks);
    expect(() => fitRaw(toks, 1, 12, 5, 'error')).toThrow(/context of 12/);
    const t = fitRaw(toks, 1, 12, 5, 'truncate');
    expect(t.tokens).toEqual([1, 13, 14, 15, 16, 17, 18]);
    expect(t.dropped).toBe(3);
    expect(() => fitRaw(toks, 1, 6, 5, 'truncate')).toThrow(ApiError);
  });
});

describe('checkSampling', () => {
  it("gives OpenAI's defaults and reduces seeds modulo 2^32", () => {
    const s = checkSampling({});
    expect(s.maxTokens).toBeNull();
    expect(s.sampling).toMatchObject({ temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0 });
    expect(checkSampling({ seed: -1 }).sampling.seed).toBe(2 ** 32 - 1);
    expect(checkSampling({ stop: 'END' }).stop).toEqual(['END']);
    expect(() => checkSampling({ top_p: 0 })).toThrow(ApiError);
    expect(() => checkSampling({ seed: 1.5 })).toThrow(/seed/);
  });
});

describe('createEngine in Node', () => {
  it('runs on this thread by default and refuses a worker where there is none', () => {
    expect(createEngine()).toBeInstanceOf(InThreadEngine);
    expect(() => createEngine({ worker: true })).toThrow(/Web Workers are not available/);
  });
});
