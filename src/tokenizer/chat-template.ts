// Chat templates (tokenizer.chat_template, Jinja) rendered through @huggingface/jinja, with the
// variables Hugging Face and llama.cpp give them: messages, add_generation_prompt, bos_token,
// eos_token, tools (plus raise_exception and strftime_now, which the library provides).

import { Template } from '@huggingface/jinja';
import { EdgewiseError } from '../errors.ts';
import type { TextTokenizer } from './tokenizer.ts';

export interface ChatMessage {
  role: string;
  /** Text, or parts such as [{ type: 'image' }, { type: 'text', text: '...' }]. */
  content: string | Record<string, unknown>[];
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** End with the header of the assistant's turn (default true). */
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  /** Tool descriptions (JSON schema objects) for templates that support them. */
  tools?: readonly unknown[];
  /** Further template variables (e.g. enable_thinking). */
  extra?: Record<string, unknown>;
}

/** The template failed to parse or raised while rendering. */
export class ChatTemplateError extends EdgewiseError {
  override name = 'ChatTemplateError';
  constructor(message: string, cause?: unknown) {
    super(`chat template: ${message}`, {}, { cause });
  }
}

export function applyChatTemplate(template: string, messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
  let t: Template;
  try {
    t = new Template(template);
  } catch (e) {
    throw new ChatTemplateError(`cannot parse: ${(e as Error).message}`, e);
  }
  try {
    return t.render({
      ...opts.extra,
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? true,
      bos_token: opts.bosToken ?? '',
      eos_token: opts.eosToken ?? '',
      ...(opts.tools ? { tools: opts.tools } : {}),
    });
  } catch (e) {
    throw new ChatTemplateError((e as Error).message, e);
  }
}

/**
 * The prompt text for a conversation with the model's own template, as llama.cpp builds it: rendered
 * with the vocabulary's BOS/EOS texts, then a leading BOS (trailing EOS) text removed when tokenizing
 * adds that token anyway. Tokenize the result with { addSpecial: true, parseSpecial: true }.
 */
export function chatPrompt(tok: TextTokenizer, messages: readonly ChatMessage[], opts: Omit<ChatTemplateOptions, 'bosToken' | 'eosToken'> & { template?: string } = {}): string {
  const template = opts.template ?? tok.chatTemplate;
  if (!template) throw new ChatTemplateError('the model has no chat template (tokenizer.chat_template) and none was given');
  const bos = tok.bos !== null ? tok.tokenText(tok.bos) : '';
  const eos = tok.eos !== null ? tok.tokenText(tok.eos) : '';
  let text = applyChatTemplate(template, messages, { ...opts, bosToken: bos, eosToken: eos });
  if (tok.addBos && bos && text.startsWith(bos)) text = text.slice(bos.length);
  if (tok.addEos && eos && text.endsWith(eos)) text = text.slice(0, -eos.length);
  return text;
}
