// Hermes-style tool calls in a streamed reply: `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`
// (Reka Edge, Qwen2.5, Hermes). The parser sits between the detokenizer and the API: text outside the
// markers passes through as content as soon as it cannot be the start of a marker; the text between the
// markers is held back and becomes one tool call when the closing marker arrives.
//
// Model output is untrusted: a call whose body is not a JSON object with a string `name` is not a tool
// call. It is reported in `invalid` (with why) and its raw text goes back into the content, so a reply
// never loses text and a malformed call never throws out of the stream.

export interface ParsedToolCall {
  /** Order of the call in the reply, from 0. */
  index: number;
  name: string;
  /** The arguments as a JSON string (OpenAI's shape), `{}` when the call gave none. */
  arguments: string;
}

export interface InvalidToolCall {
  raw: string;
  reason: string;
}

export interface ToolCallDelta {
  content: string;
  toolCalls: ParsedToolCall[];
  invalid: InvalidToolCall[];
}

export interface ToolCallMarkers {
  open: string;
  close: string;
}

export const HERMES_MARKERS: ToolCallMarkers = { open: '<tool_call>', close: '</tool_call>' };

/** Longest suffix of `text` that is a proper prefix of `marker` (the part that must wait for more text). */
function pendingPrefix(text: string, marker: string): number {
  for (let n = Math.min(marker.length - 1, text.length); n > 0; n--) {
    if (text.endsWith(marker.slice(0, n))) return n;
  }
  return 0;
}

export class ToolCallStream {
  private buf = '';
  private inCall = false;
  private count = 0;

  constructor(private readonly markers: ToolCallMarkers = HERMES_MARKERS, private readonly maxCallChars = 1 << 20) {}

  /** Feed the next piece of decoded text; returns what can be released now. */
  push(text: string): ToolCallDelta {
    const out: ToolCallDelta = { content: '', toolCalls: [], invalid: [] };
    this.buf += text;
    for (;;) {
      if (!this.inCall) {
        const at = this.buf.indexOf(this.markers.open);
        if (at < 0) {
          const keep = pendingPrefix(this.buf, this.markers.open);
          out.content += this.buf.slice(0, this.buf.length - keep);
          this.buf = this.buf.slice(this.buf.length - keep);
          return out;
        }
        out.content += this.buf.slice(0, at);
        this.buf = this.buf.slice(at + this.markers.open.length);
        this.inCall = true;
      } else {
        const at = this.buf.indexOf(this.markers.close);
        if (at < 0) {
          // A runaway call (no closing marker in a megabyte) is given up as text rather than held forever.
          if (this.buf.length > this.maxCallChars) {
            this.reject(out, this.buf, `no ${this.markers.close} within ${this.maxCallChars} characters`);
            this.buf = '';
            this.inCall = false;
          }
          return out;
        }
        const body = this.buf.slice(0, at);
        this.buf = this.buf.slice(at + this.markers.close.length);
        this.inCall = false;
        this.accept(out, body);
      }
    }
  }

  /** End of the reply: whatever is held back is released (an unterminated call as invalid). */
  flush(): ToolCallDelta {
    const out: ToolCallDelta = { content: '', toolCalls: [], invalid: [] };
    if (this.inCall) this.reject(out, this.buf, `the reply ended inside a tool call (no ${this.markers.close})`);
    else out.content = this.buf;
    this.buf = '';
    this.inCall = false;
    return out;
  }

  private accept(out: ToolCallDelta, body: string): void {
    let v: unknown;
    try {
      v = JSON.parse(body);
    } catch (e) {
      this.reject(out, body, `the call is not JSON (${(e as Error).message})`, true);
      return;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return this.reject(out, body, 'the call is not a JSON object', true);
    const { name, arguments: args, parameters } = v as Record<string, unknown>;
    if (typeof name !== 'string' || name === '') return this.reject(out, body, 'the call has no string "name"', true);
    const a = args ?? parameters ?? {};
    let argText: string;
    if (typeof a === 'string') {
      // Some models send the arguments already encoded; keep them if they are a JSON object.
      try {
        const parsed: unknown = JSON.parse(a);
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
        argText = a;
      } catch {
        return this.reject(out, body, '"arguments" is a string that is not a JSON object', true);
      }
    } else if (typeof a === 'object' && a !== null && !Array.isArray(a)) {
      argText = JSON.stringify(a);
    } else {
      return this.reject(out, body, '"arguments" is not an object', true);
    }
    out.toolCalls.push({ index: this.count++, name, arguments: argText });
  }

  private reject(out: ToolCallDelta, body: string, reason: string, closed = false): void {
    const raw = this.markers.open + body + (closed ? this.markers.close : '');
    out.invalid.push({ raw, reason });
    out.content += raw;
  }
}

/** The whole reply at once: content with the calls taken out, the calls, and the malformed ones. */
export function parseToolCalls(text: string, markers: ToolCallMarkers = HERMES_MARKERS): ToolCallDelta {
  const s = new ToolCallStream(markers);
  const a = s.push(text);
  const b = s.flush();
  return { content: a.content + b.content, toolCalls: [...a.toolCalls, ...b.toolCalls], invalid: [...a.invalid, ...b.invalid] };
}
