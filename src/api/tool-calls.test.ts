// Tool calls through the chat API, end to end on a scripted model (src/testing/scripted-model.ts) that
// answers every prompt with a fixed reply: Hermes-style <tool_call> blocks (control tokens, as Reka Edge
// has them) become tool_calls with finish_reason 'tool_calls', whole and streamed; malformed calls stay
// text and do not break the response; without tools the reply is plain text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInThreadEngine, type InThreadEngine } from './engine.ts';
import type { ChatCompletionChunk, ToolDefinition } from './types.ts';
import { scriptedModel } from '../testing/scripted-model.ts';
import { testGpu } from '../testing/gpu.ts';

const TOOLS: ToolDefinition[] = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

async function engineFor(pieces: Parameters<typeof scriptedModel>[0]): Promise<InThreadEngine> {
  const m = scriptedModel(pieces);
  const engine = createInThreadEngine({ gpu: await testGpu() });
  await engine.loadModel({ model: new Blob([m.gguf as Uint8Array<ArrayBuffer>]), id: 'scripted' });
  return engine;
}

async function collect(it: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const out: ChatCompletionChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

describe('tool calls through chat.completions', () => {
  let good: InThreadEngine;
  let bad: InThreadEngine;
  beforeAll(async () => {
    good = await engineFor([
      { text: 'Let me check.' },
      { text: '<tool_call>', control: true },
      { text: '{"name": "get_weather", ' },
      { text: '"arguments": {"city": "Bern"}}' },
      { text: '</tool_call>', control: true },
    ]);
    bad = await engineFor([
      { text: 'Trying:' },
      { text: '<tool_call>', control: true },
      { text: '{"name": "get_weather", "arguments": {oops' },
      { text: '</tool_call>', control: true },
      { text: ' sorry.' },
    ]);
  }, 120_000);
  afterAll(async () => {
    await good?.dispose();
    await bad?.dispose();
  });

  it('a whole response carries the call, finish_reason tool_calls, and the text around it', async () => {
    const r = await good.chat.completions.create({ messages: [{ role: 'user', content: 'Weather in Bern?' }], tools: TOOLS, temperature: 0, max_tokens: 20 });
    const c = r.choices[0];
    expect(c.finish_reason).toBe('tool_calls');
    expect(c.message.content).toBe('Let me check.');
    expect(c.message.tool_calls).toHaveLength(1);
    expect(c.message.tool_calls![0]).toMatchObject({ type: 'function', function: { name: 'get_weather', arguments: '{"city":"Bern"}' } });
    expect(c.message.tool_calls![0].id).toMatch(/^call/);
  });

  it('a stream delivers content, then the call as a tool_calls delta, then finish_reason tool_calls', async () => {
    const chunks = await collect(await good.chat.completions.create({ messages: [{ role: 'user', content: 'Weather?' }], tools: TOOLS, temperature: 0, max_tokens: 20, stream: true }));
    const content = chunks.map((c) => c.choices[0].delta.content ?? '').join('');
    expect(content).toBe('Let me check.');
    const calls = chunks.flatMap((c) => c.choices[0].delta.tool_calls ?? []);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Bern"}' } });
    // No chunk leaks the markers or the call's JSON as content.
    expect(chunks.some((c) => (c.choices[0].delta.content ?? '').includes('tool_call'))).toBe(false);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)!.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('without tools the reply is text (control tokens skipped), finish_reason stop', async () => {
    const r = await good.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], temperature: 0, max_tokens: 20 });
    expect(r.choices[0].finish_reason).toBe('stop');
    expect(r.choices[0].message.tool_calls).toBeUndefined();
    expect(r.choices[0].message.content).toBe('Let me check.{"name": "get_weather", "arguments": {"city": "Bern"}}');
  });

  it('a malformed call stays in the text, whole and streamed, and the engine keeps working', async () => {
    const r = await bad.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], tools: TOOLS, temperature: 0, max_tokens: 20 });
    expect(r.choices[0].finish_reason).toBe('stop');
    expect(r.choices[0].message.tool_calls).toBeUndefined();
    expect(r.choices[0].message.content).toBe('Trying:<tool_call>{"name": "get_weather", "arguments": {oops</tool_call> sorry.');
    const chunks = await collect(await bad.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], tools: TOOLS, temperature: 0, max_tokens: 20, stream: true }));
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe(r.choices[0].message.content);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('stop');
    // A reply cut off inside a call (max_tokens) keeps its text and finishes by length.
    const cut = await bad.chat.completions.create({ messages: [{ role: 'user', content: 'x' }], tools: TOOLS, temperature: 0, max_tokens: 3 });
    expect(cut.choices[0].finish_reason).toBe('length');
    expect(cut.choices[0].message.content).toBe('Trying:<tool_call>{"name": "get_weather", "arguments": {oops');
  });
});
