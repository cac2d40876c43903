// The API contract of the in-thread engine on the real stories260K model: response and chunk shapes,
// usage, stop strings, penalties and seeds, abort, the FIFO queue, multi-turn KV reuse, context
// overflow and OpenAI-style errors for bad requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { EdgewiseError } from '../errors.ts';
import { bytesSource, openGguf } from '../formats/gguf.ts';
import { gv, writeGguf } from '../formats/gguf-writer.ts';
import { testGpu } from '../testing/gpu.ts';
import { randomModelSpec } from '../testing/random-model.ts';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';
import { ApiError } from './errors.ts';
import { createInThreadEngine, type InThreadEngine } from './engine.ts';
import type { ChatCompletionChunk, ChatCompletionRequest, CompletionChunk, LoadProgress, Usage } from './types.ts';

const MODEL = join(__dirname, '../../../shared/models/stories260K.gguf');

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const c of it) out.push(c);
  return out;
}

function expectUsage(u: Usage | undefined, prompt: number, completion: number): void {
  expect(u).toBeDefined();
  expect(u!.prompt_tokens).toBe(prompt);
  expect(u!.completion_tokens).toBe(completion);
  expect(u!.total_tokens).toBe(prompt + completion);
  expect(u!.ttft_ms).toBeGreaterThan(0);
  expect(u!.prefill_tokens_per_s).toBeGreaterThan(0);
  if (completion > 1) expect(u!.decode_tokens_per_s).toBeGreaterThan(0);
  expect(u!.cached_prompt_tokens).toBeGreaterThanOrEqual(0);
}

async function expectApiError(p: Promise<unknown>, param: string | undefined, code: string, type = 'invalid_request_error'): Promise<ApiError> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e, `expected an ApiError ${code}`).toBeInstanceOf(ApiError);
  expect(e).toBeInstanceOf(EdgewiseError);
  const a = e as ApiError;
  expect(a.body.error.type).toBe(type);
  expect(a.body.error.code).toBe(code);
  expect(a.body.error.param).toBe(param);
  expect(a.body.error.message.length).toBeGreaterThan(10);
  return a;
}

const STORY = 'Once upon a time';
const greedy = { temperature: 0 } as const;

describe('engine before a model is loaded', () => {
  it('refuses requests with model_not_loaded', async () => {
    const engine = createInThreadEngine({ gpu: await testGpu() });
    await expectApiError(engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }] }), 'model', 'model_not_loaded');
    await expectApiError(engine.completions.create({ prompt: 'hi' }), 'model', 'model_not_loaded');
    expect(await engine.modelInfo()).toBeNull();
    await engine.dispose();
  });
});

describe('engine on stories260K', () => {
  let engine: InThreadEngine;
  const progress: LoadProgress[] = [];

  beforeAll(async () => {
    engine = createInThreadEngine({ gpu: await testGpu() });
    await engine.loadModel({ model: MODEL, contextLength: 256, onProgress: (p) => progress.push(p) });
  });

  afterAll(async () => {
    await engine?.dispose();
  });

  it('loads from a path and describes the model; progress runs parse -> upload -> ready', async () => {
    const info = await engine.modelInfo();
    expect(info).toMatchObject({ id: 'stories260K.gguf', architecture: 'llama', contextLength: 256, hasVision: false, chatTemplate: false });
    expect(info!.fileBytes).toBe(statSync(MODEL).size);
    expect(info!.parameters).toBeGreaterThan(200_000);
    expect(info!.parameters).toBeLessThan(300_000);
    expect(progress[0].stage).toBe('parse');
    expect(progress.at(-1)).toMatchObject({ stage: 'ready', loadedBytes: info!.fileBytes, totalBytes: info!.fileBytes });
    const uploads = progress.filter((p) => p.stage === 'upload');
    expect(uploads.length).toBeGreaterThan(5);
    expect(uploads.at(-1)!.loadedBytes).toBe(uploads.at(-1)!.totalBytes);
    const a = await engine.adapter();
    expect(typeof a.description).toBe('string');
    expect(a.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
  });

  it('non-streaming chat: an OpenAI-shaped completion with usage; the template-less prompt is the message text', async () => {
    await engine.resetChat();
    const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: STORY }], max_tokens: 20, ...greedy });
    expect(r.object).toBe('chat.completion');
    expect(r.id).toMatch(/^chatcmpl-/);
    expect(r.model).toBe('stories260K.gguf');
    expect(Number.isInteger(r.created)).toBe(true);
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0].message.role).toBe('assistant');
    expect(r.choices[0].finish_reason).toBe('length');
    // The trained model continues the story as llama.cpp does (README of ../shared/models).
    expect(r.choices[0].message.content).toMatch(/^, there was a little girl named Lily/);
    // The same text as a raw completion gives the same prompt and the same tokens.
    await engine.resetChat();
    const c = await engine.completions.create({ prompt: STORY, max_tokens: 20, ...greedy });
    expect(c.choices[0].text).toBe(r.choices[0].message.content);
    expect(c.choices[0].tokens).toHaveLength(20);
    expectUsage(r.usage, c.usage.prompt_tokens, 20);
    expect(c.usage.cached_prompt_tokens).toBe(0);
  });

  it('streaming chat: a role chunk, content chunks, and a last chunk with finish_reason and usage', async () => {
    await engine.resetChat();
    const whole = await engine.chat.completions.create({ messages: [{ role: 'user', content: STORY }], max_tokens: 24, ...greedy });
    await engine.resetChat();
    const stream = await engine.chat.completions.create({ messages: [{ role: 'user', content: STORY }], max_tokens: 24, stream: true, ...greedy });
    const chunks = await collect(stream);
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks) {
      expect(c.object).toBe('chat.completion.chunk');
      expect(c.id).toBe(chunks[0].id);
      expect(c.created).toBe(chunks[0].created);
      expect(c.model).toBe('stories260K.gguf');
      expect(c.choices).toHaveLength(1);
      expect(c.choices[0].index).toBe(0);
    }
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const last = chunks.at(-1)!;
    expect(last.choices[0].finish_reason).toBe('length');
    expect(last.choices[0].delta).toEqual({});
    expectUsage(last.usage, whole.usage.prompt_tokens, 24);
    for (const c of chunks.slice(0, -1)) {
      expect(c.choices[0].finish_reason).toBeNull();
      expect(c.usage).toBeUndefined();
    }
    const middle = chunks.slice(1, -1).map((c) => c.choices[0].delta.content);
    expect(middle.every((t) => typeof t === 'string' && t.length > 0)).toBe(true);
    expect(middle.join('')).toBe(whole.choices[0].message.content);
  });

  it('streaming raw completion: chunks carry text and the tokens behind it; token-id prompts work', async () => {
    const whole = await engine.completions.create({ prompt: STORY, max_tokens: 16, ...greedy });
    const promptIds = [1, ...[]]; // BOS alone, as ids
    const fromIds = await engine.completions.create({ prompt: promptIds, max_tokens: 4, ...greedy });
    expect(fromIds.usage.prompt_tokens).toBe(1);
    expect(fromIds.choices[0].tokens).toHaveLength(4);
    const chunks: CompletionChunk[] = await collect(await engine.completions.create({ prompt: STORY, max_tokens: 16, stream: true, ...greedy }));
    expect(chunks.every((c) => c.object === 'text_completion.chunk')).toBe(true);
    expect(chunks.map((c) => c.choices[0].text).join('')).toBe(whole.choices[0].text);
    expect(chunks.flatMap((c) => c.choices[0].tokens)).toEqual(whole.choices[0].tokens);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('length');
    expectUsage(chunks.at(-1)!.usage, whole.usage.prompt_tokens, 16);
  });

  it('stop strings end the text before them, also split across tokens, in both modes', async () => {
    const full = (await engine.completions.create({ prompt: STORY, max_tokens: 30, ...greedy })).choices[0].text;
    // ", there was a little girl named Lily": "e gi" spans the tokens of "little" and "girl".
    const stop = 'e gi';
    expect(full.indexOf(stop)).toBeGreaterThan(0);
    const want = full.slice(0, full.indexOf(stop));
    const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: STORY }], max_tokens: 30, stop: ['xyz', stop], ...greedy });
    expect(r.choices[0].message.content).toBe(want);
    expect(r.choices[0].finish_reason).toBe('stop');
    const chunks = await collect(await engine.chat.completions.create({ messages: [{ role: 'user', content: STORY }], max_tokens: 30, stop, stream: true, ...greedy }));
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe(want);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('stop');
  });

  it('seeded sampling reproduces; penalties change the greedy text', async () => {
    const req = { messages: [{ role: 'user', content: STORY }], max_tokens: 24, temperature: 0.9, top_k: 40, top_p: 0.95, seed: 42 } satisfies ChatCompletionRequest;
    const a = await engine.chat.completions.create(req);
    const b = await engine.chat.completions.create(req);
    expect(b.choices[0].message.content).toBe(a.choices[0].message.content);
    const c = await engine.chat.completions.create({ ...req, seed: 43 });
    expect(c.choices[0].message.content).not.toBe(a.choices[0].message.content);
    const plain = await engine.completions.create({ prompt: STORY, max_tokens: 40, ...greedy });
    const pen = await engine.completions.create({ prompt: STORY, max_tokens: 40, ...greedy, presence_penalty: 1, frequency_penalty: 1, repetition_penalty: 1.3 });
    expect(pen.choices[0].tokens).not.toEqual(plain.choices[0].tokens);
    // A penalised token is less likely to come back: fewer repeats among the generated ids.
    const repeats = (t: number[]) => t.length - new Set(t).size;
    expect(repeats(pen.choices[0].tokens)).toBeLessThan(repeats(plain.choices[0].tokens));
  });

  it('abort through signal ends a stream within one token and leaves the engine usable', async () => {
    const ac = new AbortController();
    const stream = await engine.chat.completions.create({ messages: [{ role: 'user', content: STORY }], max_tokens: 100, stream: true, signal: ac.signal, ...greedy });
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of stream) {
      chunks.push(c);
      if (chunks.length === 4) ac.abort();
    }
    const last = chunks.at(-1)!;
    expect(last.choices[0].finish_reason).toBe('abort');
    // The generator runs ahead of the reader by at most what was queued before the abort was seen.
    // Four chunks read (the role and three texts); the abort is seen before the next forward pass.
    console.log(`abort after 4 chunks: ${last.usage!.completion_tokens} tokens generated`);
    expect(last.usage!.completion_tokens).toBeLessThanOrEqual(5);
    // Aborted while queued: refused without running.
    const gone = new AbortController();
    gone.abort();
    await expectApiError(engine.completions.create({ prompt: STORY, max_tokens: 5, signal: gone.signal }), undefined, 'aborted', 'aborted');
    // Leaving a stream early aborts its generation too.
    const early = await engine.completions.create({ prompt: STORY, max_tokens: 200, stream: true, ...greedy });
    for await (const c of early) { void c; break; }
    const t0 = performance.now();
    const after = await engine.completions.create({ prompt: STORY, max_tokens: 8, ...greedy });
    expect(after.choices[0].tokens).toHaveLength(8);
    expect(performance.now() - t0).toBeLessThan(60_000);
  });

  it('queues concurrent requests FIFO: each gets what it would alone, none interleaves', async () => {
    const prompts = ['Once upon a time', 'The little dog', 'Lily and Tom went to the park.'];
    const alone: string[] = [];
    for (const p of prompts) {
      await engine.resetChat();
      alone.push((await engine.completions.create({ prompt: p, max_tokens: 12, ...greedy })).choices[0].text);
    }
    const log: string[] = [];
    const streams = await Promise.all(prompts.map((p) => engine.completions.create({ prompt: p, max_tokens: 12, stream: true, ...greedy })));
    const texts = await Promise.all(streams.map(async (s, i) => {
      let text = '';
      for await (const c of s) {
        log.push(`${i}${c.choices[0].finish_reason ? 'end' : ''}`);
        text += c.choices[0].text;
      }
      return text;
    }));
    expect(texts).toEqual(alone);
    // Every chunk of request i arrives before the first chunk of request i + 1.
    const firstOf = (i: number) => log.indexOf(String(i));
    expect(log.indexOf('0end')).toBeLessThan(firstOf(1));
    expect(log.indexOf('1end')).toBeLessThan(firstOf(2));
  });

  it('multi-turn: the second turn reuses the cached history instead of prefilling it again', async () => {
    await engine.resetChat();
    const user1 = { role: 'user' as const, content: STORY };
    const t1 = await engine.chat.completions.create({ messages: [user1], max_tokens: 24, ...greedy });
    expect(t1.usage.cached_prompt_tokens).toBe(0);
    const turn2: ChatCompletionRequest & { stream?: false } = {
      messages: [user1, { role: 'assistant', content: t1.choices[0].message.content }, { role: 'user', content: ' The next day,' }],
      max_tokens: 12, ...greedy,
    };
    const t2 = await engine.chat.completions.create(turn2);
    const history = t1.usage.prompt_tokens + t1.usage.completion_tokens;
    console.log(`turn 2: ${t2.usage.prompt_tokens} prompt tokens, ${t2.usage.cached_prompt_tokens} from the cache (history ${history}); ttft ${t2.usage.ttft_ms.toFixed(1)} ms vs turn 1 ${t1.usage.ttft_ms.toFixed(1)} ms`);
    // Everything but the reply's last token (never fed back) and a retokenized boundary is reused.
    expect(t2.usage.cached_prompt_tokens).toBeGreaterThanOrEqual(history - 2);
    expect(t2.usage.prompt_tokens - t2.usage.cached_prompt_tokens).toBeLessThanOrEqual(8);
    // And the reuse does not change the answer.
    await engine.resetChat();
    const fresh = await engine.chat.completions.create(turn2);
    expect(fresh.usage.cached_prompt_tokens).toBe(0);
    expect(fresh.choices[0].message.content).toBe(t2.choices[0].message.content);
  });

  it('bad requests get OpenAI-style errors, and the engine keeps working', async () => {
    const msg = [{ role: 'user' as const, content: STORY }];
    const chat = (req: object) => engine.chat.completions.create(req as ChatCompletionRequest);
    await expectApiError(chat({ messages: [] }), 'messages', 'empty_array');
    await expectApiError(chat({}), 'messages', 'invalid_type');
    await expectApiError(chat({ messages: msg, model: 'gpt-4' }), 'model', 'model_not_found');
    await expectApiError(chat({ messages: msg, max_tokens: -1 }), 'max_tokens', 'invalid_value');
    await expectApiError(chat({ messages: msg, max_tokens: 2.5 }), 'max_tokens', 'invalid_value');
    await expectApiError(chat({ messages: msg, temperature: -0.1 }), 'temperature', 'invalid_value');
    await expectApiError(chat({ messages: msg, stop: [''] }), 'stop', 'invalid_value');
    await expectApiError(chat({ messages: [{ role: 'wizard', content: 'x' }] }), 'messages[0].role', 'invalid_value');
    await expectApiError(chat({ messages: [{ role: 'user', content: [{ type: 'audio', audio: {} }] }] }), 'messages[0].content[0].type', 'invalid_value');
    await expectApiError(chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }] }), 'messages[0].content[0].text', 'invalid_type');
    await expectApiError(chat({ messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'data:,' } }] }] }), 'messages[0].content[0].type', 'invalid_value');
    const vision = await expectApiError(chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }] }), 'messages[0].content[1]', 'model_has_no_vision');
    expect(vision.message).toMatch(/no vision encoder/);
    await expectApiError(engine.completions.create({ prompt: [1, 99999] }), 'prompt', 'invalid_value');
    await expectApiError(engine.completions.create({ prompt: [1, -3] }), 'prompt', 'invalid_value');
    await expectApiError(engine.completions.create({ prompt: 'x', max_tokens: 0 }), 'max_tokens', 'invalid_value');
    const ok = await engine.chat.completions.create({ messages: msg, max_tokens: 3, ...greedy });
    expect(ok.usage.completion_tokens).toBe(3);
  });

  it("context overflow: 'error' refuses with the sizes, 'truncate' drops the oldest turns, a full cache ends with length", async () => {
    const small = createInThreadEngine({ gpu: await testGpu() });
    try {
      await small.loadModel({ model: MODEL, contextLength: 32, id: 'tiny-ctx' });
      const long = 'Once upon a time there was a little girl named Lily. She loved to play outside in the park.';
      const e = await expectApiError(small.completions.create({ prompt: long, max_tokens: 8 }), 'prompt', 'context_length_exceeded');
      expect(e.message).toMatch(/context of 32/);
      await expectApiError(small.chat.completions.create({ messages: [{ role: 'user', content: 'Hi there.' }], max_tokens: 40 }), 'messages', 'context_length_exceeded');
      // No max_tokens: generation runs until the KV cache is full and reports length.
      const r = await small.completions.create({ prompt: STORY, ...greedy, model: 'tiny-ctx' });
      expect(r.choices[0].finish_reason).toBe('length');
      expect(r.usage.total_tokens).toBe(33);

      await small.loadModel({ model: MODEL, contextLength: 32, contextOverflow: 'truncate' });
      const turns: ChatCompletionRequest['messages'] = [
        { role: 'system', content: 'A story.' },
        { role: 'user', content: 'Once upon a time there was a little girl named Lily.' },
        { role: 'assistant', content: ' She loved to play outside in the park.' },
        { role: 'user', content: ' One day she saw a dog.' },
      ];
      const t = await small.chat.completions.create({ messages: turns, max_tokens: 8, ...greedy });
      expect(t.usage.prompt_tokens + 8).toBeLessThanOrEqual(32);
      expect(t.usage.completion_tokens).toBe(8);
      const raw = await small.completions.create({ prompt: long, max_tokens: 8, ...greedy });
      expect(raw.usage.prompt_tokens).toBe(24);
    } finally {
      await small.dispose();
    }
  });
});

describe('engine on a random-weight model with a chat template, loaded from a Blob', () => {
  // ChatML-like, ending each turn with the vocabulary's EOS (a control token, parsed from the rendered text).
  const TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
  let engine: InThreadEngine;
  let spec: ReturnType<typeof randomModelSpec>;

  beforeAll(async () => {
    spec = randomModelSpec({ arch: 'llama', weightType: 'F32', seed: 21, vocab: 300, ctx: 128, nLayer: 2, nEmbd: 32, nHead: 2, nFf: 64 });
    (spec.metadata as Map<string, unknown>).set('tokenizer.chat_template', gv.string(TEMPLATE));
    engine = createInThreadEngine({ gpu: await testGpu() });
    await engine.loadModel({ model: new Blob([writeGguf(spec) as Uint8Array<ArrayBuffer>]), id: 'random-chat' });
  });

  afterAll(async () => {
    await engine?.dispose();
  });

  it('renders the template, tokenizes with special tokens parsed, and reuses the cache on the next turn', async () => {
    const info = (await engine.modelInfo())!;
    expect(info).toMatchObject({ id: 'random-chat', chatTemplate: true, contextLength: 128, fileBytes: writeGguf(spec).byteLength });
    const tok = loadTokenizer(await openGguf(bytesSource(writeGguf(spec))));
    const messages: ChatCompletionRequest['messages'] = [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'hello ' }, { type: 'text', text: 'there' }] }];
    const rendered = '<|system|>be brief</s><|user|>hello there</s><|assistant|>';
    const want = tok.encode(rendered, { addSpecial: true, parseSpecial: true });
    expect(want.filter((t) => t === 2)).toHaveLength(2); // both </s> became the EOS token
    const t1 = await engine.chat.completions.create({ messages, max_tokens: 6, ...greedy });
    expect(t1.usage.prompt_tokens).toBe(want.length);
    expect(['stop', 'length']).toContain(t1.choices[0].finish_reason);
    const t2 = await engine.chat.completions.create({
      messages: [...messages, { role: 'assistant', content: t1.choices[0].message.content }, { role: 'user', content: 'more' }], max_tokens: 4, ...greedy,
    });
    expect(t2.usage.cached_prompt_tokens).toBeGreaterThanOrEqual(want.length);
  });
});
