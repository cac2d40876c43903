import { describe, expect, it } from 'vitest';
import { HERMES_MARKERS, ToolCallStream, parseToolCalls, type ToolCallDelta } from './tool-calls.ts';
import { Rng } from '../testing/rng.ts';

/** Stream `text` in random pieces (1..maxPiece characters) and collect everything released. */
function streamed(text: string, rng: Rng, maxPiece: number): ToolCallDelta & { pieces: string[] } {
  const s = new ToolCallStream();
  const all: ToolCallDelta & { pieces: string[] } = { content: '', toolCalls: [], invalid: [], pieces: [] };
  const take = (d: ToolCallDelta) => {
    all.content += d.content;
    all.pieces.push(d.content);
    all.toolCalls.push(...d.toolCalls);
    all.invalid.push(...d.invalid);
  };
  for (let i = 0; i < text.length;) {
    const n = 1 + rng.int(0, maxPiece);
    take(s.push(text.slice(i, i + n)));
    i += n;
  }
  take(s.flush());
  return all;
}

const REPLIES = [
  'Sure, let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Zürich", "unit": "c"}}\n</tool_call>',
  '<tool_call>{"name":"a","arguments":{}}</tool_call><tool_call>{"name":"b","arguments":{"x":[1,2,{"y":"</tool"}]}}</tool_call> done',
  'No tools here, just < and <tool and <tool_cal text, ending in <tool_c',
  'broken: <tool_call>{"name": "x", "arguments": {"a": 1}</tool_call> after',
  'not an object: <tool_call>[1, 2]</tool_call> and no name: <tool_call>{"arguments": {}}</tool_call>',
  'string args: <tool_call>{"name": "s", "arguments": "{\\"q\\": 1}"}</tool_call> bad string args: <tool_call>{"name": "s", "arguments": "nope"}</tool_call>',
  'parameters key: <tool_call>{"name": "p", "parameters": {"k": true}}</tool_call>',
  'unterminated <tool_call>{"name": "late", "arguments": {"k": 1}',
  'emoji 🙂 <tool_call>{"name": "e", "arguments": {"s": "🙂"}}</tool_call>🙂',
];

describe('tool-call parsing', () => {
  it('parses calls, keeps text, and reports malformed calls without throwing', () => {
    const a = parseToolCalls(REPLIES[0]);
    expect(a.toolCalls).toEqual([{ index: 0, name: 'get_weather', arguments: '{"city":"Zürich","unit":"c"}' }]);
    expect(a.content).toBe('Sure, let me check.\n');
    expect(a.invalid).toEqual([]);

    const b = parseToolCalls(REPLIES[1]);
    expect(b.toolCalls.map((c) => [c.index, c.name, c.arguments])).toEqual([[0, 'a', '{}'], [1, 'b', '{"x":[1,2,{"y":"</tool"}]}']]);
    expect(b.content).toBe(' done');

    const c = parseToolCalls(REPLIES[2]);
    expect(c).toEqual({ content: REPLIES[2], toolCalls: [], invalid: [] });

    const d = parseToolCalls(REPLIES[3]);
    expect(d.toolCalls).toEqual([]);
    expect(d.invalid).toHaveLength(1);
    expect(d.invalid[0].reason).toMatch(/not JSON/);
    expect(d.content).toBe(REPLIES[3]); // the malformed call's text stays in the reply

    const e = parseToolCalls(REPLIES[4]);
    expect(e.invalid.map((x) => x.reason)).toEqual(['the call is not a JSON object', 'the call has no string "name"']);
    expect(e.content).toBe(REPLIES[4]);

    const f = parseToolCalls(REPLIES[5]);
    expect(f.toolCalls).toEqual([{ index: 0, name: 's', arguments: '{"q": 1}' }]);
    expect(f.invalid.map((x) => x.reason)).toEqual(['"arguments" is a string that is not a JSON object']);

    expect(parseToolCalls(REPLIES[6]).toolCalls).toEqual([{ index: 0, name: 'p', arguments: '{"k":true}' }]);

    const h = parseToolCalls(REPLIES[7]);
    expect(h.toolCalls).toEqual([]);
    expect(h.invalid[0].reason).toMatch(/ended inside a tool call/);
    expect(h.content).toBe(REPLIES[7]);
  });

  it('streams in any split exactly as it parses whole, never releasing part of a marker early', () => {
    const rng = new Rng(31);
    for (const reply of REPLIES) {
      const whole = parseToolCalls(reply);
      for (let trial = 0; trial < 50; trial++) {
        const s = streamed(reply, rng, 1 + (trial % 7));
        expect({ content: s.content, toolCalls: s.toolCalls, invalid: s.invalid }, `${reply} trial ${trial}`).toEqual(whole);
        // Text released before a call must not end in the start of the opening marker.
        if (whole.toolCalls.length && !whole.invalid.length) {
          for (const p of s.pieces) expect(p.includes(HERMES_MARKERS.open)).toBe(false);
        }
      }
    }
  });

  it('gives up a runaway call as text instead of holding it forever', () => {
    const s = new ToolCallStream(HERMES_MARKERS, 100);
    const d1 = s.push('<tool_call>{"name": "x", "arguments": {"a": "');
    expect(d1.content).toBe('');
    const d2 = s.push('y'.repeat(200));
    expect(d2.invalid).toHaveLength(1);
    expect(d2.content.startsWith('<tool_call>{"name"')).toBe(true);
    const d3 = s.push(' more text');
    expect(d3.content).toBe(' more text');
  });
});
