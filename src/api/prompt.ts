// From a request to prompt token ids, and the context-overflow policy.
//
// Chat requests go through the model's chat template (tokenizer.chat_template), rendered as llama.cpp
// does, special tokens parsed. A model without a template (stories260K and other plain text models)
// gets the message texts concatenated as they are, in order, with no separators or role markers, so
// a conversation reads as one continuous text the model extends; that text is tokenized with BOS as
// the file says and special-token text left as text.
//
// Overflow: a request needs its prompt plus max_tokens (or one token when absent) to fit the context.
// 'error' refuses it (ApiError code context_length_exceeded); 'truncate' drops the oldest non-system
// messages (then any non-user messages that would lead the conversation) until it fits, or for a raw
// prompt keeps the BOS and the most recent tokens.
//
// Images: the conversation is rendered with a private marker where each image part was (as llama.cpp's
// server does with mtmd's marker), the text is split at the markers, each piece tokenized (BOS on the
// first only) and each image's media segment put between them. Truncation drops whole messages, so an
// image is never cut in half.

import { chatPrompt } from '../tokenizer/chat-template.ts';
import type { ChatMessage as TemplateMessage } from '../tokenizer/chat-template.ts';
import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import { ApiError, invalidRequest } from './errors.ts';
import { REKA_EDGE_TOKENS, REKA_EDGE_VOCAB_SIZE, rekaEdgeChatPrompt, type RekaTurn } from '../models/reka-edge.ts';

/** Reka Edge's vocabulary: 100352 tokens with <sep> where Reka puts it. */
function isRekaEdgeVocab(tok: TextTokenizer): boolean {
  return tok.vocabSize === REKA_EDGE_VOCAB_SIZE && tok.tokenText(REKA_EDGE_TOKENS.sep) === '<sep>';
}
import type { ChatMessage, ContentPart, ToolDefinition } from './types.ts';
import { promptPositions, type MediaSegment, type Prompt, type PromptSegment } from '../runtime/generate.ts';

export type OverflowPolicy = 'error' | 'truncate';

export interface FittedPrompt {
  tokens: number[];
  /** Messages (chat) or tokens (raw) dropped to fit. */
  dropped: number;
}

/** The text of a message; image and video parts become `marker` (nothing when absent). */
export function messageText(m: ChatMessage, marker = ''): string {
  const c = m.content as string | ContentPart[] | null;
  if (c === null) return '';
  if (typeof c === 'string') return c;
  return c.map((p) => (p.type === 'text' ? p.text : p.type === 'image_url' || p.type === 'video_url' ? marker : '')).join('');
}

function templateMessage(m: ChatMessage, marker: string): TemplateMessage {
  const out: TemplateMessage = { role: m.role, content: messageText(m, marker) };
  if (m.role === 'assistant' && m.tool_calls) out.tool_calls = m.tool_calls;
  if (m.role === 'tool') out.tool_call_id = m.tool_call_id;
  return out;
}

/** The rendered conversation and how to tokenize it. */
interface ChatText {
  text: string;
  parseSpecial: boolean;
}

function chatText(tok: TextTokenizer, messages: readonly ChatMessage[], tools: readonly ToolDefinition[] | undefined, marker: string): ChatText {
  if (!tok.chatTemplate && isRekaEdgeVocab(tok)) {
    // Reka Edge files without a template: Reka's own turn format (models/reka-edge.ts).
    const turns: RekaTurn[] = messages.map((m) => ({
      role: m.role, content: messageText(m, marker),
      toolCalls: m.role === 'assistant' ? m.tool_calls?.map((c) => ({ name: c.function.name, arguments: c.function.arguments })) : undefined,
    }));
    try {
      return { text: rekaEdgeChatPrompt(turns, (tools ?? []).map((t) => t.function)), parseSpecial: true };
    } catch (e) {
      throw new ApiError('invalid_request_error', `these messages cannot be put in Reka's chat format: ${(e as Error).message}`, { param: 'messages', code: 'chat_template_error', cause: e });
    }
  }
  if (!tok.chatTemplate) return { text: messages.map((m) => messageText(m, marker)).join(''), parseSpecial: false };
  try {
    return { text: chatPrompt(tok, messages.map((m) => templateMessage(m, marker)), tools && tools.length ? { tools } : {}), parseSpecial: true };
  } catch (e) {
    throw new ApiError('invalid_request_error', `the model's chat template refused these messages: ${(e as Error).message}`, { param: 'messages', code: 'chat_template_error', cause: e });
  }
}

/** The prompt token ids of a conversation (see the file comment for models without a template). */
export function chatTokens(tok: TextTokenizer, messages: readonly ChatMessage[], tools?: readonly ToolDefinition[]): number[] {
  const { text, parseSpecial } = chatText(tok, messages, tools, '');
  return tok.encode(text, { addSpecial: true, parseSpecial });
}

/** Where image parts go in a rendered prompt; random per process so no user text can forge one. */
const MEDIA_MARK = `<__edgewise_media_${Math.random().toString(36).slice(2, 10)}__>`;

/** The segments of a conversation with images: `media(part)` gives each image part's segment. */
export function chatSegments(tok: TextTokenizer, messages: readonly ChatMessage[], tools: readonly ToolDefinition[] | undefined,
  media: (part: ContentPart) => MediaSegment): PromptSegment[] {
  const parts: ContentPart[] = [];
  for (const m of messages) if (Array.isArray(m.content)) for (const p of m.content as ContentPart[]) if (p.type === 'image_url' || p.type === 'video_url') parts.push(p);
  const { text, parseSpecial } = chatText(tok, messages, tools, MEDIA_MARK);
  const pieces = text.split(MEDIA_MARK);
  if (pieces.length - 1 !== parts.length) {
    throw new ApiError('invalid_request_error', `the model's chat template kept ${pieces.length - 1} of ${parts.length} image(s); images must be in messages the template renders`, { param: 'messages', code: 'chat_template_error' });
  }
  const segments: PromptSegment[] = [];
  pieces.forEach((piece, i) => {
    const ids = tok.encode(piece, { addSpecial: i === 0, parseSpecial });
    if (ids.length) segments.push({ kind: 'tokens', ids });
    if (i < parts.length) segments.push(media(parts[i]));
  });
  return segments;
}

function overflow(prompt: number, maxTokens: number | null, contextLength: number, param: string): ApiError {
  const want = maxTokens ?? 1;
  return invalidRequest(
    `this request needs ${prompt} prompt tokens + ${want} completion token(s) = ${prompt + want}, more than the context of ${contextLength} ` +
    "(load the model with contextOverflow: 'truncate' to drop the oldest turns, or ask for fewer max_tokens)",
    param, 'context_length_exceeded', { promptTokens: prompt, maxTokens, contextLength },
  );
}

const fits = (n: number, maxTokens: number | null, ctx: number) => n + (maxTokens ?? 1) <= ctx;

/** Messages that fit the context, dropping whole oldest non-system turns under 'truncate'. */
function fitMessages<T extends Prompt>(messages: readonly ChatMessage[], build: (msgs: ChatMessage[]) => T,
  contextLength: number, maxTokens: number | null, policy: OverflowPolicy): { prompt: T; dropped: number } {
  const msgs = [...messages];
  let prompt = build(msgs);
  if (fits(promptPositions(prompt), maxTokens, contextLength)) return { prompt, dropped: 0 };
  if (policy === 'error') throw overflow(promptPositions(prompt), maxTokens, contextLength, 'messages');
  let dropped = 0;
  for (;;) {
    const first = msgs.findIndex((m) => m.role !== 'system');
    const rest = msgs.filter((m) => m.role !== 'system').length;
    if (first < 0 || rest <= 1) throw overflow(promptPositions(prompt), maxTokens, contextLength, 'messages');
    msgs.splice(first, 1);
    dropped++;
    // Templates expect the conversation to open with a user turn: drop replies left leading it.
    for (let i = msgs.findIndex((m) => m.role !== 'system'); i >= 0 && msgs[i].role !== 'user' && msgs.filter((m) => m.role !== 'system').length > 1; i = msgs.findIndex((m) => m.role !== 'system')) {
      msgs.splice(i, 1);
      dropped++;
    }
    prompt = build(msgs);
    if (fits(promptPositions(prompt), maxTokens, contextLength)) return { prompt, dropped };
  }
}

export function fitChat(tok: TextTokenizer, messages: readonly ChatMessage[], tools: readonly ToolDefinition[] | undefined,
  contextLength: number, maxTokens: number | null, policy: OverflowPolicy): FittedPrompt {
  const { prompt, dropped } = fitMessages(messages, (msgs) => chatTokens(tok, msgs, tools), contextLength, maxTokens, policy);
  return { tokens: prompt, dropped };
}

/** fitChat for a conversation with images: the segments of the messages that fit. */
export function fitChatSegments(tok: TextTokenizer, messages: readonly ChatMessage[], tools: readonly ToolDefinition[] | undefined,
  media: (part: ContentPart) => MediaSegment, contextLength: number, maxTokens: number | null, policy: OverflowPolicy): { segments: PromptSegment[]; positions: number; dropped: number } {
  const { prompt, dropped } = fitMessages(messages, (msgs) => ({ segments: chatSegments(tok, msgs, tools, media) }), contextLength, maxTokens, policy);
  return { segments: prompt.segments, positions: promptPositions(prompt), dropped };
}

export function fitRaw(tokens: number[], bos: number | null, contextLength: number, maxTokens: number | null, policy: OverflowPolicy): FittedPrompt {
  if (fits(tokens.length, maxTokens, contextLength)) return { tokens, dropped: 0 };
  if (policy === 'error') throw overflow(tokens.length, maxTokens, contextLength, 'prompt');
  const room = contextLength - (maxTokens ?? 1);
  const keepBos = bos !== null && tokens[0] === bos ? 1 : 0;
  if (room <= keepBos) throw overflow(tokens.length, maxTokens, contextLength, 'prompt');
  const kept = [...tokens.slice(0, keepBos), ...tokens.slice(tokens.length - (room - keepBos))];
  return { tokens: kept, dropped: tokens.length - kept.length };
}
