// How a turn of the conversation looks: user text as typed (never parsed), assistant replies as
// sanitized markdown, attachments as thumbnails, per-reply numbers, and errors explained in words.

import type { ChatTurn, ReplyStats, StoredAttachment } from './chat-store.ts';
import { formatDuration } from './format.ts';
import { explainError } from './explain-error.ts';
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
