// The conversation as the chat page keeps it, saved to localStorage after every change so a reload
// finds it again. Attachments are kept here as small thumbnails (data: URLs of a few kB) and a key into
// the page's media store (media-store.ts: images in IndexedDB, videos for the session only), never as
// the media itself. When the browser's storage quota refuses even the thumbnails, the text is saved
// without them and the turn says so.

import type { FinishReason } from '../api/types.ts';

export interface StoredAttachment {
  kind: 'image' | 'video';
  name: string;
  /** A small preview (data: URL, at most 160 px, a few kB) for the thumbnail strip; a video's poster frame. */
  thumbUrl: string;
  /** Where the media store keeps the image or clip the model is shown. */
  mediaKey?: string;
  /** Pixel size of the image or clip as attached. */
  width?: number;
  height?: number;
  /** Length of a clip in seconds, when the browser could tell. */
  durationS?: number;
  /** Why the engine could not read it; a refused attachment is not sent again. */
  refused?: string;
  /** Conversations saved before the media store kept the image itself here (read, never written). */
  dataUrl?: string | null;
}

export interface ReplyStats {
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens: number;
  ttftMs: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  finish: FinishReason;
}

export interface ChatTurn {
  id: string;
  role: 'user' | 'assistant';
  text: string;
  attachments?: StoredAttachment[];
  /** Generated token ids (text-completion mode reports them). */
  tokens?: number[];
  stats?: ReplyStats;
  error?: { name: string; message: string; code?: string };
  /** The model that wrote an assistant turn. */
  model?: string;
  /** Set on user turns whose attachments did not fit the storage quota. */
  attachmentsDropped?: boolean;
}

export interface ChatSettings {
  temperature: number;
  maxTokens: number;
  systemPrompt: string;
}

export interface SavedChat {
  version: 1;
  turns: ChatTurn[];
  /** Registry id of the model last loaded from the registry (local files cannot be reloaded). */
  modelId: string | null;
  settings: ChatSettings;
}

export const DEFAULT_SETTINGS: ChatSettings = { temperature: 0.7, maxTokens: 256, systemPrompt: '' };

const KEY = 'edgewise.chat.v1';

function empty(): SavedChat {
  return { version: 1, turns: [], modelId: null, settings: { ...DEFAULT_SETTINGS } };
}

/** The saved conversation, or an empty one when there is none or it cannot be read. */
export function loadChat(storage: Storage = localStorage): SavedChat {
  let raw: string | null;
  try {
    raw = storage.getItem(KEY);
  } catch {
    return empty();
  }
  if (!raw) return empty();
  try {
    const v = JSON.parse(raw) as Partial<SavedChat>;
    if (v.version !== 1 || !Array.isArray(v.turns)) return empty();
    const turns = v.turns.filter((t): t is ChatTurn => !!t && (t.role === 'user' || t.role === 'assistant') && typeof t.text === 'string' && typeof t.id === 'string');
    return { version: 1, turns, modelId: typeof v.modelId === 'string' ? v.modelId : null, settings: { ...DEFAULT_SETTINGS, ...v.settings } };
  } catch {
    return empty();
  }
}

/** Saves; returns false when even the text alone did not fit. */
export function saveChat(chat: SavedChat, storage: Storage = localStorage): boolean {
  try {
    storage.setItem(KEY, JSON.stringify(chat));
    return true;
  } catch {
    // Over quota: keep the words, drop the pictures (thumbnails too).
    const slim: SavedChat = {
      ...chat,
      turns: chat.turns.map((t) => (t.attachments?.length ? { ...t, attachments: [], attachmentsDropped: true } : t)),
    };
    try {
      storage.setItem(KEY, JSON.stringify(slim));
      return true;
    } catch {
      return false;
    }
  }
}

export function newTurnId(): string {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
