// How a turn of the conversation looks: user text as typed (never parsed), assistant replies as
// sanitized markdown, attachments as thumbnails, per-reply numbers, and errors explained in words.

import type { ChatTurn, ReplyStats, StoredAttachment } from './chat-store.ts';
import { formatDuration } from './format.ts';
import { explainError } from './explain-error.ts';
import { formatClipLength } from './attachments.ts';
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

/** A thumbnail and its label: 'image', or 'video 0:07'. */
export function mediaThumb(a: StoredAttachment, cls: string): HTMLElement {
  const item = el('span', cls);
  const img = el('img');
  img.src = a.thumbUrl;
  img.alt = a.name;
  const size = a.width && a.height ? ` · ${a.width}x${a.height}` : '';
  img.title = a.kind === 'video' ? `${a.name} (video${a.durationS ? `, ${formatClipLength(a.durationS)}` : ''}${size})` : `${a.name}${size}`;
  item.dataset.kind = a.kind;
  item.append(img, el('span', 'kind', a.kind === 'video' && a.durationS ? `▶ ${formatClipLength(a.durationS)}` : a.kind === 'video' ? '▶ video' : 'image'));
  return item;
}

function attachmentStrip(atts: readonly StoredAttachment[], missing: (a: StoredAttachment) => boolean): HTMLElement {
  const box = el('div', 'attachments');
  for (const a of atts) {
    const item = mediaThumb(a, 'att');
    if (a.refused) {
      item.classList.add('missing', 'refused');
      item.title = `the model could not read this: ${a.refused}`;
    } else if (missing(a)) {
      item.classList.add('missing');
      item.title = a.kind === 'video' ? 'clips are kept for one session only: the model no longer sees this one' : 'this image was not kept: the model no longer sees it';
    }
    box.append(item);
  }
  return box;
}

export interface TurnActions {
  regenerate?: () => void;
  /** Attachments whose media the page no longer has (a clip after a reload): thumbnail only. */
  missing?: (a: StoredAttachment) => boolean;
}

/** The element of one turn; assistant turns are re-filled by updateTurn as they stream. */
export function renderTurn(turn: ChatTurn, state: TurnState, actions: TurnActions = {}): HTMLElement {
  const art = el('article', `msg ${turn.role}`);
  art.dataset.id = turn.id;
  art.append(el('div', 'who', turn.role === 'user' ? 'You' : turn.model ?? 'model'));
  if (turn.attachments?.length) {
    const missing = turn.attachments.filter(actions.missing ?? (() => false));
    art.append(attachmentStrip(turn.attachments, actions.missing ?? (() => false)));
    if (missing.length) {
      const clips = missing.every((a) => a.kind === 'video');
      art.append(el('div', 'note', clips
        ? `${missing.length === 1 ? 'this clip is' : 'these clips are'} kept for one session only: the model no longer sees ${missing.length === 1 ? 'it' : 'them'}`
        : `${missing.length} attachment${missing.length === 1 ? ' was' : 's were'} not kept after the reload: the model no longer sees ${missing.length === 1 ? 'it' : 'them'}`));
    }
  }
  for (const a of turn.attachments ?? []) {
    if (a.refused) art.append(el('div', 'note refused', `${a.name} was not read (${a.refused}); it is not sent again`));
  }
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
