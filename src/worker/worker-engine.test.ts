// The worker protocol in Node: the page-side WorkerEngine talking through Comlink over a MessageChannel
// to exposeEngine() (what engine-worker.ts runs inside the worker). Typed errors, progress callbacks,
// streams, abort forwarding and early exits cross the channel as they would between page and worker;
// the browser test (e2e/engine.test.mjs) runs the real worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ApiError } from '../api/errors.ts';
import { createInThreadEngine, type InThreadEngine } from '../api/engine.ts';
import type { CompletionChunk, LoadProgress } from '../api/types.ts';
import { testGpu } from '../testing/gpu.ts';
import { exposeEngine } from './engine-host.ts';
import { WorkerEngine } from './worker-engine.ts';

const MODEL = join(__dirname, '../../../shared/models/stories260K.gguf');
const PROMPT = 'Once upon a time';

describe('WorkerEngine over a MessageChannel', () => {
  let local: InThreadEngine;
  let remote: WorkerEngine;

  beforeAll(async () => {
    const gpu = await testGpu();
    local = createInThreadEngine({ gpu });
    const { port1, port2 } = new MessageChannel();
    exposeEngine(createInThreadEngine({ gpu }), port2);
    remote = new WorkerEngine(Object.assign(port1, { terminate: () => { port1.close(); port2.close(); } }));
  });

  afterAll(async () => {
    await remote?.dispose();
    await local?.dispose();
  });

  it('errors cross as ApiError with their OpenAI-style body', async () => {
    const e = await remote.completions.create({ prompt: PROMPT }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).body.error).toMatchObject({ type: 'invalid_request_error', code: 'model_not_loaded', param: 'model' });
    const bad = await remote.loadModel({ model: '/no/such/model.gguf' }).catch((x: unknown) => x);
    expect(bad).toBeInstanceOf(ApiError);
    expect((bad as ApiError).body.error.type).toBe('model_error');
    expect((bad as ApiError).message).toMatch(/no\/such\/model\.gguf/);
  });

  it('loads with progress callbacks and streams the tokens the in-thread engine produces', async () => {
    const progress: LoadProgress[] = [];
    const info = await remote.loadModel({ model: MODEL, contextLength: 128, onProgress: (p) => progress.push(p) });
    await local.loadModel({ model: MODEL, contextLength: 128 });
    expect(info).toEqual(await local.modelInfo());
    // Progress callbacks are messages of their own; they have all arrived by the next round trip.
    expect(await remote.modelInfo()).toEqual(info);
    expect(progress.map((p) => p.stage)).toContain('upload');
    expect(progress.at(-1)!.stage).toBe('ready');

    const want = await local.completions.create({ prompt: PROMPT, max_tokens: 16, temperature: 0 });
    const chunks: CompletionChunk[] = [];
    for await (const c of await remote.completions.create({ prompt: PROMPT, max_tokens: 16, temperature: 0, stream: true })) chunks.push(c);
    expect(chunks.flatMap((c) => c.choices[0].tokens)).toEqual(want.choices[0].tokens);
    expect(chunks.map((c) => c.choices[0].text).join('')).toBe(want.choices[0].text);
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: want.usage.prompt_tokens, completion_tokens: 16 });

    const whole = await remote.chat.completions.create({ messages: [{ role: 'user', content: PROMPT }], max_tokens: 16, temperature: 0 });
    expect(whole.choices[0].message.content).toBe(want.choices[0].text);
    expect(whole.usage.cached_prompt_tokens).toBeGreaterThan(0);
  });

  it('forwards AbortSignal and early exits to the worker, which stays usable', async () => {
    const ac = new AbortController();
    let n = 0;
    let last: CompletionChunk | null = null;
    for await (const c of await remote.completions.create({ prompt: PROMPT, max_tokens: 100, temperature: 0, stream: true, signal: ac.signal })) {
      last = c;
      if (++n === 3) ac.abort();
    }
    expect(last!.choices[0].finish_reason).toBe('abort');
    // The abort crosses one message hop; the worker may decode a few more tokens meanwhile.
    expect(last!.usage!.completion_tokens).toBeLessThan(20);

    const whole = new AbortController();
    const p = remote.completions.create({ prompt: PROMPT, max_tokens: 100, temperature: 0, signal: whole.signal });
    setTimeout(() => whole.abort(), 20);
    const r = await p;
    expect(r.choices[0].finish_reason).toBe('abort');
    expect(r.usage.completion_tokens).toBeLessThan(100);

    const early = await remote.completions.create({ prompt: PROMPT, max_tokens: 100, temperature: 0, stream: true });
    for await (const c of early) { void c; break; }
    const after = await remote.completions.create({ prompt: PROMPT, max_tokens: 4, temperature: 0 });
    expect(after.choices[0].tokens).toHaveLength(4);
    const bad = await remote.chat.completions.create({ messages: [] }).catch((x: unknown) => x);
    expect((bad as ApiError).body.error).toMatchObject({ param: 'messages', code: 'empty_array' });
  });
});
