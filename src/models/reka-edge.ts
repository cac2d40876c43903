// Reka Edge (RekaAI/reka-edge-2603): what the engine needs to know beyond the `llama` architecture the
// text half loads as. The decoder's shapes, rope base and context length come from the GGUF; only the
// token ids of Reka's special tokens and the chat/tool-call conventions live here.
//
// Vocabulary: tiktoken's cl100k_base ids 0..100255 (byte-level BPE) followed by 96 special tokens up to
// 100351. The ids below are the ones Reka's vLLM plugin and llama.cpp's port name; the names of the other
// special ids are not known here and matter only as text.

export const REKA_EDGE_VOCAB_SIZE = 100352;

/** Reka's special tokens, by id. */
export const REKA_EDGE_TOKENS = {
  endOfText: 100257, // <|endoftext|>
  image: 100278, // <REKA_IMG_TOKEN>
  imageStart: 100279, // <image>
  imageEnd: 100280, // </image>
  videoStart: 100284, // <video>
  videoEnd: 100285, // </video>
  sep: 100290, // <sep>: end of a turn
  toolCallStart: 100292, // <tool_call>
  toolCallEnd: 100293, // </tool_call>
  toolResponse: 100294, // <tool_response>
} as const;

export const REKA_EDGE_TOKEN_TEXT: Readonly<Record<number, string>> = {
  [REKA_EDGE_TOKENS.endOfText]: '<|endoftext|>',
  [REKA_EDGE_TOKENS.image]: '<REKA_IMG_TOKEN>',
  [REKA_EDGE_TOKENS.imageStart]: '<image>',
  [REKA_EDGE_TOKENS.imageEnd]: '</image>',
  [REKA_EDGE_TOKENS.videoStart]: '<video>',
  [REKA_EDGE_TOKENS.videoEnd]: '</video>',
  [REKA_EDGE_TOKENS.sep]: '<sep>',
  [REKA_EDGE_TOKENS.toolCallStart]: '<tool_call>',
  [REKA_EDGE_TOKENS.toolCallEnd]: '</tool_call>',
  [REKA_EDGE_TOKENS.toolResponse]: '<tool_response>',
};

/** Generation ends on the end of a turn or of the text. */
export const REKA_EDGE_STOP_TOKENS: readonly number[] = [REKA_EDGE_TOKENS.sep, REKA_EDGE_TOKENS.endOfText];

// ---------------------------------------------------------------- chat format

/** A turn as the chat format sees it: text only (images and video are placed by the vision path as
 *  their own tokens inside the human turn). */
export interface RekaTurn {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** Assistant turns that called tools: the calls as `{name, arguments}` JSON. */
  toolCalls?: { name: string; arguments: string }[];
}

export interface RekaTool {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

/**
 * Reka's chat format, for GGUFs that carry no `tokenizer.chat_template` (when they do, that template is
 * used instead): `human: … <sep> assistant: … <sep>`, the system prompt (and the tools block) prepended to
 * the first human turn, assistant tool calls as Hermes-style `<tool_call>{json}</tool_call>`, tool results
 * as `<tool_response>…</tool_response>` in a human turn, ending with `assistant:` for the reply. The reply's
 * first token carries a leading space, which the caller strips (see stripReplyLeadingSpace).
 */
export function rekaEdgeChatPrompt(turns: readonly RekaTurn[], tools: readonly RekaTool[] = []): string {
  const system = turns.filter((t) => t.role === 'system').map((t) => t.content);
  if (tools.length) {
    system.push(
      'You can call these tools. To call one, reply with <tool_call>{"name": <tool name>, "arguments": <arguments object>}</tool_call>.\n'
      + tools.map((t) => JSON.stringify({ name: t.name, description: t.description ?? '', parameters: t.parameters ?? {} })).join('\n'),
    );
  }
  let preamble = system.length ? system.join('\n\n') + '\n\n' : '';
  let out = '';
  let pendingHuman: string[] = [];
  const closeHuman = () => {
    if (!pendingHuman.length && !preamble) return;
    out += `human: ${preamble}${pendingHuman.join('\n')} <sep> `;
    preamble = '';
    pendingHuman = [];
  };
  for (const t of turns) {
    if (t.role === 'system') continue;
    if (t.role === 'user') pendingHuman.push(t.content);
    else if (t.role === 'tool') pendingHuman.push(`<tool_response>${t.content}</tool_response>`);
    else {
      closeHuman();
      const calls = (t.toolCalls ?? []).map((c) => `<tool_call>${JSON.stringify({ name: c.name, arguments: JSON.parse(c.arguments) as unknown })}</tool_call>`);
      out += `assistant: ${[t.content, ...calls].filter(Boolean).join('')} <sep> `;
    }
  }
  closeHuman();
  return out + 'assistant:';
}

/** Reka Edge's first reply token starts with a space (after `assistant:`); the reply text drops it. */
export function stripReplyLeadingSpace(firstPiece: string): string {
  return firstPiece.startsWith(' ') ? firstPiece.slice(1) : firstPiece;
}
