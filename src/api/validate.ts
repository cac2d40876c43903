// Checking requests before they reach the queue: every refusal is an ApiError naming the field (param)
// and the value that was wrong, and nothing is half-done when it is raised.
//
// Defaults follow OpenAI's API, not llama.cpp's CLI: temperature 1, top_p 1, no top-k or min-p, no
// penalties; max_tokens absent means "until a stop, or until the context is full".

import type { SamplingOptions } from '../runtime/generate.ts';
import { invalidRequest } from './errors.ts';
import type { ChatCompletionRequest, ChatMessage, CompletionRequest, ContentPart, SamplingParams } from './types.ts';

export interface CheckedSampling {
  /** null: no limit but the context. */
  maxTokens: number | null;
  sampling: SamplingOptions;
  stop: string[];
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);
const PART_TYPES = new Set(['text', 'image_url', 'video_url']);

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function optNumber(req: SamplingParams, name: keyof SamplingParams, ok: (x: number) => boolean, what: string): number | undefined {
  const v = req[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) {
    throw invalidRequest(`${name} = ${JSON.stringify(v) ?? String(v)}: ${what}`, name, 'invalid_value', { [name]: v });
  }
  return v;
}

export function checkSampling(req: SamplingParams): CheckedSampling {
  if (req === null || typeof req !== 'object') throw invalidRequest(`the request must be an object, got ${typeName(req)}`, undefined, 'invalid_type');
  const int = (x: number) => Number.isInteger(x);
  const maxTokens = optNumber(req, 'max_tokens', (x) => int(x) && x >= 1, 'must be an integer >= 1');
  const temperature = optNumber(req, 'temperature', (x) => x >= 0, 'must be >= 0 (0 is greedy)');
  const topP = optNumber(req, 'top_p', (x) => x > 0 && x <= 1, 'must be in (0, 1]');
  const topK = optNumber(req, 'top_k', (x) => int(x) && x >= 0, 'must be an integer >= 0 (0: off)');
  const minP = optNumber(req, 'min_p', (x) => x >= 0 && x <= 1, 'must be in [0, 1]');
  const seed = optNumber(req, 'seed', (x) => int(x), 'must be an integer');
  const presence = optNumber(req, 'presence_penalty', (x) => x >= -2 && x <= 2, 'must be in [-2, 2]');
  const frequency = optNumber(req, 'frequency_penalty', (x) => x >= -2 && x <= 2, 'must be in [-2, 2]');
  const repetition = optNumber(req, 'repetition_penalty', (x) => x > 0, 'must be > 0 (1: off)');
  let stop: string[] = [];
  if (req.stop !== undefined && req.stop !== null) {
    stop = typeof req.stop === 'string' ? [req.stop] : Array.isArray(req.stop) ? req.stop : [];
    if (!Array.isArray(req.stop) && typeof req.stop !== 'string') throw invalidRequest(`stop must be a string or an array of strings, got ${typeName(req.stop)}`, 'stop', 'invalid_type');
    const bad = stop.findIndex((s) => typeof s !== 'string' || s.length === 0);
    if (bad >= 0) throw invalidRequest(`stop[${bad}] must be a non-empty string, got ${JSON.stringify(stop[bad])}`, 'stop', 'invalid_value');
  }
  if (req.signal !== undefined && !(typeof req.signal === 'object' && req.signal !== null && 'aborted' in req.signal)) {
    throw invalidRequest('signal must be an AbortSignal', 'signal', 'invalid_type');
  }
  return {
    maxTokens: maxTokens ?? null,
    stop,
    sampling: {
      temperature: temperature ?? 1,
      topK: topK ?? 0,
      topP: topP ?? 1,
      minP: minP ?? 0,
      // Modulo 2^32 as the sampler takes it; absent: a fresh seed per request.
      seed: seed !== undefined ? ((seed % 2 ** 32) + 2 ** 32) % 2 ** 32 : Math.floor(Math.random() * 2 ** 32),
      repetitionPenalty: repetition ?? 1,
      presencePenalty: presence ?? 0,
      frequencyPenalty: frequency ?? 0,
    },
  };
}

function checkParts(parts: unknown[], at: string, allowed: ReadonlySet<string>): void {
  parts.forEach((p, j) => {
    const where = `${at}[${j}]`;
    if (p === null || typeof p !== 'object') throw invalidRequest(`${where} must be a content part object, got ${typeName(p)}`, where, 'invalid_type');
    const type = (p as { type?: unknown }).type;
    if (typeof type !== 'string' || !PART_TYPES.has(type)) {
      throw invalidRequest(`${where}.type is ${JSON.stringify(type)}; expected one of text, image_url, video_url`, `${where}.type`, 'invalid_value');
    }
    if (!allowed.has(type)) throw invalidRequest(`${where}: a ${type} part is not allowed in this message`, `${where}.type`, 'invalid_value');
    const part = p as ContentPart;
    if (part.type === 'text' && typeof part.text !== 'string') {
      throw invalidRequest(`${where}.text must be a string, got ${typeName(part.text)}`, `${where}.text`, 'invalid_type');
    }
    if (part.type === 'image_url') {
      const url = part.image_url?.url;
      if (typeof url !== 'string' && !(typeof Blob !== 'undefined' && url instanceof Blob)) {
        throw invalidRequest(`${where}.image_url.url must be a URL string or a Blob, got ${typeName(url)}`, `${where}.image_url.url`, 'invalid_type');
      }
    }
    if (part.type === 'video_url') {
      const url = part.video_url?.url;
      if (typeof url !== 'string' && !(typeof Blob !== 'undefined' && url instanceof Blob)) {
        throw invalidRequest(`${where}.video_url.url must be a URL string or a Blob, got ${typeName(url)}`, `${where}.video_url.url`, 'invalid_type');
      }
    }
  });
}

const USER_PARTS = new Set(['text', 'image_url', 'video_url']);
const TEXT_PARTS = new Set(['text']);

/** Shape checks of a chat request (the content of image parts is the vision path's business). */
export function checkChatRequest(req: ChatCompletionRequest): CheckedSampling {
  const s = checkSampling(req);
  const msgs = req.messages as unknown;
  if (!Array.isArray(msgs)) throw invalidRequest(`messages must be an array, got ${typeName(msgs)}`, 'messages', 'invalid_type');
  if (msgs.length === 0) throw invalidRequest('messages is empty; a chat request needs at least one message', 'messages', 'empty_array');
  msgs.forEach((m: unknown, i) => {
    const at = `messages[${i}]`;
    if (m === null || typeof m !== 'object') throw invalidRequest(`${at} must be an object, got ${typeName(m)}`, at, 'invalid_type');
    const msg = m as ChatMessage;
    if (!ROLES.has(msg.role)) throw invalidRequest(`${at}.role is ${JSON.stringify(msg.role)}; expected system, user, assistant or tool`, `${at}.role`, 'invalid_value');
    const c = msg.content as unknown;
    if (msg.role === 'assistant') {
      if (c !== null && typeof c !== 'string') throw invalidRequest(`${at}.content of an assistant message must be a string or null, got ${typeName(c)}`, `${at}.content`, 'invalid_type');
      return;
    }
    if (msg.role === 'tool') {
      if (typeof c !== 'string') throw invalidRequest(`${at}.content of a tool message must be a string, got ${typeName(c)}`, `${at}.content`, 'invalid_type');
      if (typeof msg.tool_call_id !== 'string') throw invalidRequest(`${at}.tool_call_id must be a string`, `${at}.tool_call_id`, 'invalid_type');
      return;
    }
    if (typeof c === 'string') return;
    if (!Array.isArray(c)) throw invalidRequest(`${at}.content must be a string or an array of content parts, got ${typeName(c)}`, `${at}.content`, 'invalid_type');
    checkParts(c, `${at}.content`, msg.role === 'user' ? USER_PARTS : TEXT_PARTS);
  });
  if (req.tools !== undefined && !Array.isArray(req.tools)) throw invalidRequest(`tools must be an array, got ${typeName(req.tools)}`, 'tools', 'invalid_type');
  if (req.model !== undefined && typeof req.model !== 'string') throw invalidRequest(`model must be a string, got ${typeName(req.model)}`, 'model', 'invalid_type');
  return s;
}

export function checkCompletionRequest(req: CompletionRequest): CheckedSampling {
  const s = checkSampling(req);
  const p = req.prompt as unknown;
  if (typeof p === 'string') return s;
  if (!Array.isArray(p)) throw invalidRequest(`prompt must be a string or an array of token ids, got ${typeName(p)}`, 'prompt', 'invalid_type');
  const bad = p.findIndex((t) => !Number.isInteger(t) || t < 0);
  if (bad >= 0) throw invalidRequest(`prompt[${bad}] = ${JSON.stringify(p[bad])} is not a token id`, 'prompt', 'invalid_value');
  if (req.model !== undefined && typeof req.model !== 'string') throw invalidRequest(`model must be a string, got ${typeName(req.model)}`, 'model', 'invalid_type');
  return s;
}
