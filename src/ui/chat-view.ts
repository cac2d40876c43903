// How a turn of the conversation looks: user text as typed (never parsed), assistant replies as
// sanitized markdown, attachments as thumbnails, per-reply numbers, and errors explained in words.

import type { ChatTurn, ReplyStats, StoredAttachment } from './chat-store.ts';
import { formatDuration } from './format.ts';
import { renderMarkdownInto } from './markdown.ts';

export type TurnState = 'streaming' | 'done' | 'stopped' | 'error';

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = '', text = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

export function statsText(s: ReplyStats): string {
  const parts = [`${s.completionTokens} token${s.completionTokens === 1 ? '' : 's'}`];
  if (s.decodeTokensPerS > 0) parts.push(`${s.decodeTokensPerS.toFixed(1)} tok/s`);
  parts.push(`first token ${formatDuration(s.ttftMs / 1000)}`);
  if (s.prefillTokensPerS > 0) parts.push(`prompt ${s.promptTokens} tok at ${s.prefillTokensPerS.toFixed(s.prefillTokensPerS < 10 ? 1 : 0)} tok/s`);
  if (s.cachedPromptTokens > 0) parts.push(`${s.cachedPromptTokens} of them cached`);
  return parts.join(' · ');
}

/** What went wrong, in words a user can act on, from an error's name and message. */
export function explainError(e: { name: string; message: string }, fallbackTitle = 'The model could not answer'): { title: string; detail: string } {
  const m = e.message;
  if (/image|video|vision|mmproj|projector/i.test(m) && /text[- ]only|no (vision|projector|mmproj)|does not (accept|support|read)|cannot (see|read)|not a vision/i.test(m)) {
    return { title: 'This model reads text only', detail: /vision model/i.test(m) ? m : `${m} — load a vision model (SmolVLM, Gemma 3 with its projector) to ask about images.` };
  }
  if (e.name === 'DeviceLimitError' || /device limit|exceeds|maxBufferSize|maxStorageBufferBindingSize/i.test(m)) {
    return { title: 'The model does not fit this GPU', detail: m };
  }
  if (e.name === 'DeviceLostError' || /device (was )?lost/i.test(m)) {
    return { title: 'The GPU device was lost', detail: `${m} — load the model again to continue.` };
  }
  if (/context_length_exceeded|context of \d+/i.test(m)) {
    return { title: 'The conversation no longer fits the model’s context', detail: `${m} — clear the conversation or ask for fewer tokens.` };
  }
  if (/out[- ]of[- ]memory/i.test(m)) return { title: 'The GPU ran out of memory', detail: m };
  return { title: fallbackTitle, detail: m };
}

function attachmentStrip(atts: readonly StoredAttachment[]): HTMLElement {
  const box = el('div', 'attachments');
  for (const a of atts) {
    const img = el('img');
    img.src = a.thumbUrl;
    img.alt = a.name;
    img.title = a.kind === 'video' ? `${a.name} (video)` : a.name;
    const item = el('span', 'att');
    item.append(img);
    if (a.kind === 'video') item.append(el('span', 'kind', 'video'));
    box.append(item);
  }
  return box;
}

export interface TurnActions {
  regenerate?: () => void;
}

/** The element of one turn; assistant turns are re-filled by updateTurn as they stream. */
export function renderTurn(turn: ChatTurn, state: TurnState, actions: TurnActions = {}): HTMLElement {
  const art = el('article', `msg ${turn.role}`);
  art.dataset.id = turn.id;
  art.append(el('div', 'who', turn.role === 'user' ? 'You' : turn.model ?? 'model'));
  if (turn.attachments?.length) art.append(attachmentStrip(turn.attachments));
  if (turn.attachmentsDropped) art.append(el('div', 'note', 'attachments were too large to keep after a reload'));
  art.append(el('div', 'body'));
  art.append(el('div', 'meta'));
  updateTurn(art, turn, state, actions);
  return art;
}

export function updateTurn(art: HTMLElement, turn: ChatTurn, state: TurnState, actions: TurnActions = {}): void {
  art.dataset.state = state;
  art.querySelector('.who')!.textContent = turn.role === 'user' ? 'You' : turn.model ?? 'model';
  const body = art.querySelector<HTMLElement>('.body')!;
  if (turn.role === 'user') body.textContent = turn.text;
  else renderMarkdownInto(body, turn.text);

  art.querySelector('.turn-error')?.remove();
  if (turn.error) {
    const { title, detail } = explainError(turn.error);
    const box = el('div', 'turn-error');
    box.append(el('strong', '', title), el('span', '', detail));
    body.after(box);
  }

  const meta = art.querySelector<HTMLElement>('.meta')!;
  meta.replaceChildren();
  if (turn.role !== 'assistant') return;
  if (state === 'stopped') meta.append(el('span', 'stopped', 'stopped'));
  if (turn.stats && state !== 'streaming') {
    const s = el('span', 'stats', statsText(turn.stats));
    s.dataset.tokens = String(turn.stats.completionTokens);
    meta.append(s);
  }
  if (actions.regenerate && state !== 'streaming') {
    const b = el('button', 'ghost regenerate', 'Regenerate');
    b.type = 'button';
    b.addEventListener('click', actions.regenerate);
    meta.append(b);
  }
}
