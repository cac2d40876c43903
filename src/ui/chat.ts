// The chat page: pick and load a model, talk to it, keep the conversation. Everything goes through the
// public Engine API (src/api/types.ts); the engine runs in a worker, so the page stays responsive while
// weights upload and tokens are generated.

import { createEngine } from '../index.ts';
import type { ChatMessage, ContentPart, Engine, FinishReason, ModelInfo, Usage } from '../api/types.ts';
import { AttachmentError, dataUrlBlob, mediaFiles, readAttachment, type PendingAttachment } from './attachments.ts';
import { loadChat, newTurnId, saveChat, type ChatTurn, type ReplyStats, type SavedChat, type StoredAttachment } from './chat-store.ts';
import { el, mediaThumb, renderTurn, updateTurn, type TurnState } from './chat-view.ts';
import { MediaStore } from './media-store.ts';
import { explainError } from './explain-error.ts';
import { formatBytes } from './format.ts';
import { Availability, ModelList, ProgressView } from './model-picker.ts';
import { findModel, localName, registry, type RegistryModel } from './registry.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const ui = {
  app: $('app'),
  noWebGpu: $('no-webgpu'),
  noWebGpuReason: $('no-webgpu-reason'),
  modelList: $<HTMLUListElement>('model-list'),
  loadBtn: $<HTMLButtonElement>('load-btn'),
  modelStatus: $('model-status'),
  localModel: $<HTMLInputElement>('local-model'),
  localMmproj: $<HTMLInputElement>('local-mmproj'),
  loadLocalBtn: $<HTMLButtonElement>('load-local-btn'),
  cancelLoadBtn: $<HTMLButtonElement>('cancel-load-btn'),
  loadError: $('load-error'),
  modelInfo: $('model-info'),
  temperature: $<HTMLInputElement>('temperature'),
  maxTokens: $<HTMLInputElement>('max-tokens'),
  systemPrompt: $<HTMLTextAreaElement>('system-prompt'),
  adapterName: $('adapter-name'),
  gpuSummary: $('gpu-summary'),
  adapterFeatures: $('adapter-features'),
  adapterLimits: $('adapter-limits'),
  conversation: $('conversation'),
  modeNote: $('mode-note'),
  clearBtn: $<HTMLButtonElement>('clear-btn'),
  messages: $('messages'),
  empty: $('empty'),
  emptyTitle: $('empty-title'),
  emptyHint: $('empty-hint'),
  composer: $<HTMLFormElement>('composer'),
  thumbs: $('thumbs'),
  composerError: $('composer-error'),
  attachBtn: $<HTMLButtonElement>('attach-btn'),
  attachInput: $<HTMLInputElement>('attach-input'),
  prompt: $<HTMLTextAreaElement>('prompt'),
  sendBtn: $<HTMLButtonElement>('send-btn'),
  stopBtn: $<HTMLButtonElement>('stop-btn'),
  dropHint: $('drop-hint'),
};

const chat: SavedChat = loadChat();
let engine: Engine | null = null;
let loaded: { name: string; registryId: string | null; info: ModelInfo; mmproj: string | null } | null = null;
let loading: AbortController | null = null;
let generating: AbortController | null = null;
let pending: PendingAttachment[] = [];
/** Images sent (IndexedDB) and clips (this session); mediaKeys: what it holds now. */
const media = new MediaStore();
let mediaKeys = new Set<string>();
let avail = new Availability(new Set(), new Set());
const progress = new ProgressView($('progress'), $('progress-fill'), $('progress-text'));
const picker = new ModelList(ui.modelList, avail, chat.modelId ?? registry.default, () => updateLoadButton());
/** The element and display state of every turn on screen. */
const turnViews = new Map<string, { el: HTMLElement; state: TurnState }>();

// ---------------------------------------------------------------- persistence and conversation view

function persist(): void {
  if (!saveChat(chat)) showComposerError('The conversation is too large to save in this browser; it will not survive a reload.');
}

function lastAssistantId(): string | null {
  for (let i = chat.turns.length - 1; i >= 0; i--) if (chat.turns[i].role === 'assistant') return chat.turns[i].id;
  return null;
}

const mediaMissing = (a: StoredAttachment) => !a.refused && !a.dataUrl && !(a.mediaKey && mediaKeys.has(a.mediaKey));

function actionsFor(turn: ChatTurn) {
  return turn.role === 'assistant' && turn.id === lastAssistantId() ? { regenerate: () => void regenerate() } : { missing: mediaMissing };
}

function showTurn(turn: ChatTurn, state: TurnState): void {
  const view = turnViews.get(turn.id);
  if (view) {
    view.state = state;
    updateTurn(view.el, turn, state, actionsFor(turn));
  } else {
    const e = renderTurn(turn, state, actionsFor(turn));
    ui.messages.append(e);
    turnViews.set(turn.id, { el: e, state });
  }
  ui.empty.hidden = chat.turns.length > 0;
}

/** Re-render every turn (regenerate buttons move to the newest reply). */
function renderAll(): void {
  ui.messages.replaceChildren();
  turnViews.clear();
  for (const t of chat.turns) showTurn(t, t.role === 'assistant' ? savedState(t) : 'done');
  ui.empty.hidden = chat.turns.length > 0;
  scrollToEnd(true);
}

function savedState(t: ChatTurn): TurnState {
  if (t.error) return 'error';
  // No stats: the page went away while the reply was streaming; what was saved of it is kept.
  return !t.stats || t.stats.finish === 'abort' ? 'stopped' : 'done';
}

function scrollToEnd(force = false): void {
  const m = ui.messages;
  const nearEnd = m.scrollHeight - m.scrollTop - m.clientHeight < 120;
  if (force || nearEnd) m.scrollTop = m.scrollHeight;
}

// ---------------------------------------------------------------- GPU and engine

async function checkWebGpu(): Promise<string | null> {
  if (!('gpu' in navigator) || !navigator.gpu) return 'This browser has no navigator.gpu.';
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return 'navigator.gpu is there, but the browser offered no GPU adapter (the GPU may be blocklisted or disabled).';
  } catch (e) {
    return `Asking for a GPU adapter failed: ${(e as Error).message}`;
  }
  return null;
}

async function showAdapter(e: Engine): Promise<void> {
  const a = await e.adapter();
  ui.adapterName.textContent = [a.vendor, a.architecture, a.description].filter(Boolean).join(' · ') || 'WebGPU adapter';
  ui.adapterFeatures.replaceChildren();
  ui.gpuSummary.replaceChildren(el('span', '', `${a.description || [a.vendor, a.architecture].filter(Boolean).join(' ') || 'WebGPU'} `));
  for (const f of ['shader-f16', 'subgroups', 'timestamp-query']) {
    ui.adapterFeatures.append(el('span', `pill ${a.features.includes(f) ? 'yes' : 'no'}`, f));
    ui.gpuSummary.append(el('span', `pill ${a.features.includes(f) ? 'yes' : 'no'}`, f));
  }
  const others = a.features.filter((f) => !['shader-f16', 'subgroups', 'timestamp-query'].includes(f));
  if (others.length) ui.adapterFeatures.title = `also: ${others.join(', ')}`;
  const rows: [string, string][] = [];
  const lim = a.limits;
  if (lim.maxBufferSize) rows.push(['max buffer', formatBytes(lim.maxBufferSize)]);
  if (lim.maxStorageBufferBindingSize) rows.push(['max storage binding', formatBytes(lim.maxStorageBufferBindingSize)]);
  if (lim.maxComputeWorkgroupStorageSize) rows.push(['workgroup memory', formatBytes(lim.maxComputeWorkgroupStorageSize)]);
  ui.adapterLimits.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', '', k), el('dd', '', v)]));
}

function showModelInfo(name: string, info: ModelInfo): void {
  const params = info.parameters >= 1e9 ? `${(info.parameters / 1e9).toFixed(2)} B` : info.parameters >= 1e6 ? `${(info.parameters / 1e6).toFixed(1)} M` : `${(info.parameters / 1e3).toFixed(0)} K`;
  const rows: [string, string][] = [
    ['loaded', name],
    ['architecture', info.architecture],
    ['parameters', params],
    ['context', `${info.contextLength} tokens`],
    ['file', formatBytes(info.fileBytes)],
    ['images', info.hasVision ? `yes (${[info.visionProjector && `${info.visionProjector} projector`, loaded?.mmproj].filter(Boolean).join(', ')})` : 'no (text only)'],
    ['chat template', info.chatTemplate ? 'yes' : 'none'],
  ];
  if (info.hasVision) rows.splice(rows.findIndex(([k]) => k === 'images') + 1, 0, ['video', info.hasVideo ? 'yes' : 'no (images only)']);
  ui.modelInfo.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', '', k), el('dd', '', v)]));
  ui.modeNote.textContent = info.chatTemplate
    ? `${name} · chat`
    : `${name} has no chat template: the conversation is one text the model continues`;
  ui.emptyTitle.textContent = `${name} is ready. Write below.`;
  ui.emptyHint.textContent = info.chatTemplate
    ? `Enter sends, Shift+Enter starts a new line.${info.hasVision ? ' Attach images or a clip with the paper clip, by dropping them here or by pasting.' : ''}`
    : `This model continues the text it is given${info.hasVision ? ' (images attach by the paper clip, drop or paste)' : ''}: start a story, e.g. “Once upon a time”, and it writes on.`;
}

function updateLoadButton(): void {
  ui.loadBtn.textContent = loaded && picker.selected === loaded.registryId ? 'Reload' : 'Load';
}

function showLoadError(e: unknown, fallbackTitle = 'The model could not be loaded'): void {
  const err = e as { name?: string; message?: string; code?: string };
  const { title, detail } = explainError({ name: err.name ?? 'Error', message: err.message ?? String(e), code: err.code }, fallbackTitle);
  const h = el('h3', '', title);
  ui.loadError.replaceChildren(h, el('p', '', detail));
  if (title === 'The model does not fit this GPU' || title === 'The GPU ran out of memory') {
    const tips = el('ul');
    tips.append(
      el('li', '', 'Pick a smaller model, or a smaller quantization (Q4_0 / Q4_K_M) of this one.'),
      el('li', '', 'Close other tabs that use the GPU, then load again.'),
      el('li', '', 'The limits of this GPU are under “Your GPU” on the left.'),
    );
    ui.loadError.append(tips);
  }
  ui.loadError.hidden = false;
}

function setModelState(state: 'none' | 'loading' | 'ready' | 'error'): void {
  document.body.dataset.model = state;
  updateLoadButton();
  const busy = state === 'loading';
  ui.loadBtn.disabled = busy || !engine;
  ui.loadLocalBtn.disabled = busy || !engine;
  updateComposer();
}

async function load(label: string, registryId: string | null, opts: { model: string | Blob; mmproj?: string | Blob; id: string; sha256?: string; mmprojSha256?: string }, mmprojName: string | null = null): Promise<void> {
  if (!engine) return;
  stopGenerating();
  loading?.abort();
  const ctrl = new AbortController();
  loading = ctrl;
  ui.loadError.hidden = true;
  ui.modelStatus.textContent = '';
  // The engine lets the previous model go when a new one loads.
  loaded = null;
  picker.setLoaded(null);
  ui.modelInfo.replaceChildren();
  ui.modeNote.textContent = `loading ${label}…`;
  setModelState('loading');
  progress.start(label);
  try {
    const info = await engine.loadModel({ ...opts, signal: ctrl.signal, onProgress: (p) => progress.update(p), contextOverflow: 'truncate' });
    if (loading !== ctrl) return;
    loaded = { name: label, registryId, info, mmproj: info.hasVision ? mmprojName : null };
    showModelInfo(label, info);
    // What the new model cannot read comes off the composer, in words.
    const kept = pending.filter((a) => info.hasVision && (a.kind === 'image' || info.hasVideo));
    if (kept.length < pending.length) {
      showComposerError(info.hasVision ? `${label} reads images but not video: the clips were taken off.` : `${label} reads text only: the attachments were taken off.`, true);
      pending = kept;
      renderThumbs();
    }
    const m = registryId ? findModel(registryId) : undefined;
    // The engine keeps what it downloaded from another host: mark it before the list is drawn again.
    if (m) avail.markCached(m);
    picker.setLoaded(registryId);
    ui.modelStatus.textContent = '';
    if (registryId) {
      chat.modelId = registryId;
      persist();
    }
    setModelState('ready');
  } catch (e) {
    if (loading !== ctrl) return;
    loaded = null;
    picker.setLoaded(null);
    ui.modelInfo.replaceChildren();
    ui.modeNote.textContent = '';
    if (ctrl.signal.aborted) ui.modelStatus.textContent = 'loading cancelled';
    else showLoadError(e);
    setModelState(ctrl.signal.aborted ? 'none' : 'error');
  } finally {
    if (loading === ctrl) {
      loading = null;
      progress.hide();
    }
  }
}

function loadRegistryModel(m: RegistryModel): Promise<void> {
  const model = avail.fileUrl(m.files.model);
  // A hub download (kept in the browser's cache by the engine) is checked against the registry's
  // sha256 when it has one; a file on this server was checked by `npm run models` when it was placed.
  const fromHub = !model.startsWith(location.origin);
  const mmproj = m.files.mmproj ? avail.fileUrl(m.files.mmproj) : undefined;
  const mmprojFromHub = mmproj !== undefined && !mmproj.startsWith(location.origin);
  return load(m.label, m.id, {
    id: m.id,
    model,
    mmproj,
    ...(fromHub && m.files.model.sha256 ? { sha256: m.files.model.sha256 } : {}),
    ...(mmprojFromHub && m.files.mmproj?.sha256 ? { mmprojSha256: m.files.mmproj.sha256 } : {}),
  }, m.files.mmproj ? localName(m.files.mmproj) : null);
}

// ---------------------------------------------------------------- composer and attachments

/** A line above the composer: a problem (red), or with `info` an explanation (why nothing attaches). */
function showComposerError(msg: string | null, info = false): void {
  ui.composerError.hidden = !msg;
  ui.composerError.textContent = msg ?? '';
  ui.composerError.classList.toggle('info', info);
}

/** Why nothing can be attached now (the loaded model reads text only), or null. */
function attachBlockedReason(): string | null {
  if (document.body.dataset.model === 'loading') return 'Wait for the model to load, then attach.';
  if (!loaded) return 'Load a vision model first (Gemma 3 or SmolVLM with its projector, or a GGUF with its mmproj) to attach images or video.';
  if (!loaded.info.hasVision) {
    return `${loaded.name} reads text only: it has no vision encoder. Load a vision model (Gemma 3 or SmolVLM with its projector, or a GGUF with its mmproj file) to attach images or video.`;
  }
  return null;
}

/** Why this clip cannot be attached (a vision model without a video path), or null. */
function videoBlockedReason(): string | null {
  if (!loaded || loaded.info.hasVideo) return null;
  return `${loaded.name} reads images but not video (its ${loaded.info.visionProjector ?? 'vision'} encoder was not trained on clips; this page sends clips only to models that were); attach a still image instead.`;
}

function updateComposer(): void {
  const busy = generating !== null;
  ui.sendBtn.hidden = busy;
  ui.stopBtn.hidden = !busy;
  ui.sendBtn.disabled = !loaded || document.body.dataset.model !== 'ready';
  ui.clearBtn.disabled = chat.turns.length === 0 && !busy;
  // Not `disabled`: a click still has to say why.
  const blocked = attachBlockedReason();
  ui.attachBtn.classList.toggle('off', !!blocked);
  ui.attachBtn.setAttribute('aria-disabled', String(!!blocked));
  ui.attachBtn.title = blocked ?? `${attachWhat()} (or drop / paste them)`;
}

/** What the loaded vision model takes, in words for the attach button and the drop state. */
function attachWhat(): string {
  return loaded?.info.hasVideo ? 'Attach images or a video' : `Attach images (${loaded?.name ?? 'this model'} reads no video)`;
}

function renderThumbs(): void {
  ui.thumbs.replaceChildren(...pending.map((a, i) => {
    const box = mediaThumb(a, 'thumb');
    const rm = el('button', '', '×');
    rm.type = 'button';
    rm.title = `remove ${a.name}`;
    rm.setAttribute('aria-label', `remove ${a.name}`);
    rm.addEventListener('click', () => {
      pending.splice(i, 1);
      renderThumbs();
    });
    box.append(rm);
    return box;
  }));
}

async function addFiles(files: File[]): Promise<void> {
  showComposerError(null);
  const blocked = attachBlockedReason();
  if (blocked) {
    showComposerError(blocked, true);
    return;
  }
  const problems: string[] = [];
  for (const f of files) {
    const noVideo = f.type.startsWith('video/') ? videoBlockedReason() : null;
    if (noVideo) {
      problems.push(`${f.name || 'video'}: ${noVideo}`);
      continue;
    }
    try {
      pending.push(await readAttachment(f));
    } catch (e) {
      problems.push(e instanceof AttachmentError ? e.message : `${f.name}: ${(e as Error).message}`);
    }
  }
  renderThumbs();
  if (problems.length) showComposerError(problems.join(' · '));
}

// ---------------------------------------------------------------- generation

/** The request's messages, and which attachment each media part came from (`messages[i].content[j]`), so
 *  an image the engine could not read can be named and left out of later requests. */
async function requestMessages(upTo: number): Promise<{ msgs: ChatMessage[]; parts: Map<string, StoredAttachment> }> {
  const info = loaded?.info;
  const msgs: ChatMessage[] = [];
  const parts = new Map<string, StoredAttachment>();
  if (chat.settings.systemPrompt.trim()) msgs.push({ role: 'system', content: chat.settings.systemPrompt.trim() });
  for (const t of chat.turns.slice(0, upTo)) {
    if (t.role === 'assistant') {
      if (!t.error && t.text) msgs.push({ role: 'assistant', content: t.text });
      continue;
    }
    // The images and clips the loaded model can read, then the text. Media an earlier model took that this
    // one cannot (a text-only model after a vision one), gone media (a clip after a reload) and media the
    // engine refused are left out.
    const content: ContentPart[] = [];
    for (const a of t.attachments ?? []) {
      if (a.refused || !info?.hasVision || (a.kind === 'video' && !info.hasVideo)) continue;
      const blob = a.mediaKey ? await media.get(a.mediaKey) : a.dataUrl ? dataUrlBlob(a.dataUrl) : null;
      if (!blob) continue;
      parts.set(`messages[${msgs.length}].content[${content.length}]`, a);
      content.push(a.kind === 'image' ? { type: 'image_url', image_url: { url: blob } } : { type: 'video_url', video_url: { url: blob } });
    }
    msgs.push({ role: 'user', content: content.length ? [...content, { type: 'text', text: t.text }] : t.text });
  }
  return { msgs, parts };
}

function statsFrom(u: Usage | undefined, finish: FinishReason, counted: number, t0: number, tFirst: number | null, tEnd: number): ReplyStats {
  if (u) {
    return {
      promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens, cachedPromptTokens: u.cached_prompt_tokens,
      ttftMs: u.ttft_ms, prefillTokensPerS: u.prefill_tokens_per_s, decodeTokensPerS: u.decode_tokens_per_s, finish,
    };
  }
  // No usage (an aborted stream may end without one): the page's own clock and chunk count.
  const decodeS = tFirst !== null ? (tEnd - tFirst) / 1000 : 0;
  return {
    promptTokens: 0, completionTokens: counted, cachedPromptTokens: 0,
    ttftMs: tFirst !== null ? tFirst - t0 : tEnd - t0, prefillTokensPerS: 0,
    decodeTokensPerS: decodeS > 0 && counted > 1 ? (counted - 1) / decodeS : 0, finish,
  };
}

async function runReply(turn: ChatTurn): Promise<void> {
  if (!engine || !loaded) return;
  const index = chat.turns.indexOf(turn);
  const ctrl = new AbortController();
  generating = ctrl;
  updateComposer();
  turn.text = '';
  turn.error = undefined;
  turn.stats = undefined;
  turn.model = loaded.name;
  showTurn(turn, 'streaming');
  scrollToEnd(true);

  let frame = 0;
  let lastSave = performance.now();
  const current = () => chat.turns.includes(turn);
  const repaint = () => {
    frame = 0;
    if (!current()) return;
    showTurn(turn, 'streaming');
    scrollToEnd();
    // Save the reply as it grows, so a reload mid-stream keeps what was written.
    if (performance.now() - lastSave > 1000) {
      lastSave = performance.now();
      persist();
    }
  };
  const t0 = performance.now();
  let tFirst: number | null = null;
  let chunks = 0;
  let usage: Usage | undefined;
  let finish: FinishReason = 'stop';
  const { msgs, parts } = await requestMessages(index);
  try {
    const stream = await engine.chat.completions.create({
      messages: msgs,
      stream: true,
      temperature: chat.settings.temperature,
      max_tokens: chat.settings.maxTokens,
      signal: ctrl.signal,
    });
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      const piece = c?.delta.content ?? '';
      if (piece) {
        tFirst ??= performance.now();
        chunks++;
        turn.text += piece;
        frame ||= requestAnimationFrame(repaint);
      }
      if (c?.finish_reason) finish = c.finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    if (ctrl.signal.aborted) finish = 'abort';
  } catch (e) {
    const err = e as { name?: string; message?: string; code?: string };
    if (ctrl.signal.aborted) finish = 'abort';
    else turn.error = { name: err.name ?? 'Error', message: err.message ?? String(e), ...(typeof err.code === 'string' ? { code: err.code } : {}) };
    if (turn.error?.code === 'invalid_image') refuseImage(turn.error.message, parts);
  } finally {
    if (frame) cancelAnimationFrame(frame);
    if (generating === ctrl) generating = null;
  }
  // Cleared while it ran: the turn is gone from the conversation, and from the screen.
  if (!current()) {
    updateComposer();
    return;
  }
  turn.stats = turn.error ? undefined : statsFrom(usage, finish, chunks, t0, tFirst, performance.now());
  if (turn.error && (turn.error.code === 'DeviceLostError' || /device (was )?lost/i.test(turn.error.message))) {
    loaded = null;
    picker.setLoaded(null);
    setModelState('none');
  }
  showTurn(turn, turn.error ? 'error' : finish === 'abort' ? 'stopped' : 'done');
  persist();
  updateComposer();
  scrollToEnd();
}

/** The engine could not read an image: its turn says so, and later requests leave it out. */
function refuseImage(message: string, parts: Map<string, StoredAttachment>): void {
  const where = /^messages\[\d+\]\.content\[\d+\]/.exec(message)?.[0];
  const a = where ? parts.get(where) : undefined;
  if (!a) return;
  a.refused = message.slice(where!.length).replace(/^[:\s]+/, '') || 'the engine could not read it';
  renderAll();
}

async function send(): Promise<void> {
  const text = ui.prompt.value.trim();
  if (generating || (!text && !pending.length)) return;
  if (!loaded || document.body.dataset.model !== 'ready') {
    showComposerError('Load a model first.');
    return;
  }
  showComposerError(null);
  const user: ChatTurn = { id: newTurnId(), role: 'user', text };
  const sent = pending;
  // The composer empties before the media is stored, so a second Enter meanwhile sends nothing.
  pending = [];
  renderThumbs();
  ui.prompt.value = '';
  if (sent.length) {
    user.attachments = [];
    for (const [i, { blob, ...kept }] of sent.entries()) {
      const mediaKey = `${user.id}/${i}`;
      // Images outlive a reload (IndexedDB); clips stay for this session.
      await media.put(mediaKey, blob, kept.kind === 'image');
      mediaKeys.add(mediaKey);
      user.attachments.push({ ...kept, mediaKey });
    }
  }
  const reply: ChatTurn = { id: newTurnId(), role: 'assistant', text: '' };
  chat.turns.push(user, reply);
  renderAll();
  persist();
  await runReply(reply);
}

async function regenerate(): Promise<void> {
  const id = lastAssistantId();
  const turn = chat.turns.find((t) => t.id === id);
  if (!turn || generating || !loaded) return;
  await runReply(turn);
}

function stopGenerating(): void {
  generating?.abort();
}

async function clearConversation(): Promise<void> {
  stopGenerating();
  chat.turns = [];
  mediaKeys.clear();
  void media.retain(new Set());
  renderAll();
  persist();
  updateComposer();
  await engine?.resetChat();
}

// ---------------------------------------------------------------- wiring

function wire(): void {
  ui.temperature.value = String(chat.settings.temperature);
  ui.maxTokens.value = String(chat.settings.maxTokens);
  ui.systemPrompt.value = chat.settings.systemPrompt;
  const readSettings = () => {
    const t = Number(ui.temperature.value);
    const n = Math.round(Number(ui.maxTokens.value));
    if (Number.isFinite(t) && t >= 0 && t <= 2) chat.settings.temperature = t;
    if (Number.isFinite(n) && n >= 1 && n <= 8192) chat.settings.maxTokens = n;
    chat.settings.systemPrompt = ui.systemPrompt.value;
    persist();
  };
  for (const i of [ui.temperature, ui.maxTokens, ui.systemPrompt]) i.addEventListener('change', readSettings);

  ui.loadBtn.addEventListener('click', () => {
    const m = findModel(picker.selected);
    if (m) void loadRegistryModel(m);
  });
  ui.loadLocalBtn.addEventListener('click', () => {
    const f = ui.localModel.files?.[0];
    if (!f) {
      ui.modelStatus.textContent = 'choose a .gguf model file first';
      return;
    }
    const mm = ui.localMmproj.files?.[0];
    void load(f.name, null, { id: f.name, model: f, mmproj: mm }, mm?.name ?? null);
  });
  ui.cancelLoadBtn.addEventListener('click', () => loading?.abort());

  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    void send();
  });
  ui.prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void send();
    }
  });
  ui.prompt.addEventListener('input', () => {
    ui.prompt.style.height = 'auto';
    ui.prompt.style.height = `${Math.min(ui.prompt.scrollHeight, 192)}px`;
  });
  ui.stopBtn.addEventListener('click', stopGenerating);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && generating) {
      e.preventDefault();
      stopGenerating();
    }
  });
  ui.clearBtn.addEventListener('click', () => void clearConversation());

  ui.attachBtn.addEventListener('click', () => {
    const blocked = attachBlockedReason();
    if (blocked) showComposerError(blocked, true);
    else ui.attachInput.click();
  });
  ui.attachInput.addEventListener('change', () => {
    void addFiles([...(ui.attachInput.files ?? [])]);
    ui.attachInput.value = '';
  });
  // Files dropped anywhere on the page attach (the browser would otherwise open them in place of it).
  let dragDepth = 0;
  const hasFiles = (e: DragEvent) => !!e.dataTransfer?.types.includes('Files');
  const hideHint = () => {
    dragDepth = 0;
    ui.dropHint.hidden = true;
    document.body.classList.remove('dragging');
  };
  document.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    if (dragDepth++ === 0) {
      const blocked = attachBlockedReason();
      ui.dropHint.textContent = blocked ?? `Drop to ${attachWhat().replace(/^A/, 'a')}`;
      ui.dropHint.classList.toggle('refuse', !!blocked);
      ui.dropHint.hidden = false;
      document.body.classList.add('dragging');
    }
  });
  document.addEventListener('dragleave', (e) => {
    if (hasFiles(e) && --dragDepth <= 0) hideHint();
  });
  document.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = attachBlockedReason() ? 'none' : 'copy';
  });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    hideHint();
    const files = mediaFiles(e.dataTransfer);
    if (files.length) void addFiles(files);
    else showComposerError('Only images and videos can be attached.');
  });
  document.addEventListener('paste', (e) => {
    const files = mediaFiles(e.clipboardData);
    if (files.length) {
      e.preventDefault();
      void addFiles(files);
    }
  });
}

/** Conversations saved before the media store kept their images inline: move those into it. */
async function adoptInlineImages(): Promise<void> {
  let moved = false;
  for (const t of chat.turns) {
    for (const [i, a] of (t.attachments ?? []).entries()) {
      if (!a.dataUrl) continue;
      const blob = dataUrlBlob(a.dataUrl);
      if (!blob) continue;
      a.mediaKey = `${t.id}/${i}`;
      await media.put(a.mediaKey, blob, true);
      delete a.dataUrl;
      moved = true;
    }
  }
  if (moved) persist();
}

async function main(): Promise<void> {
  wire();
  picker.render();
  await adoptInlineImages();
  mediaKeys = await media.keys();
  // What no saved turn refers to any more (a cleared conversation in another tab) goes.
  const referenced = new Set(chat.turns.flatMap((t) => (t.attachments ?? []).flatMap((a) => (a.mediaKey ? [a.mediaKey] : []))));
  void media.retain(referenced);
  renderAll();
  setModelState('none');
  const problem = await checkWebGpu();
  if (problem) {
    ui.app.hidden = true;
    ui.noWebGpu.hidden = false;
    ui.noWebGpuReason.textContent = problem;
    document.body.dataset.model = 'no-webgpu';
    return;
  }
  try {
    engine = await createEngine();
    await showAdapter(engine);
  } catch (e) {
    ui.adapterName.textContent = `The engine could not start: ${(e as Error).message}`;
    showLoadError(e, 'The engine could not start');
    setModelState('error');
    return;
  }
  avail = await Availability.probe();
  picker.setAvailability(avail);
  setModelState('none');
  // Start with the last model when it loads without a download, else the default when it does.
  const last = chat.modelId ? findModel(chat.modelId) : undefined;
  const start = last && avail.where(last) !== 'download' ? last : findModel(registry.default);
  if (start && avail.where(start) !== 'download') {
    picker.select(start.id);
    await loadRegistryModel(start);
  } else {
    ui.modelStatus.textContent = 'choose a model and press Load';
  }
}

void main();
