import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, loadChat, saveChat, type SavedChat } from './chat-store.ts';

/** A Storage with a byte quota, as browsers have. */
function memoryStorage(quota = Infinity): Storage {
  const m = new Map<string, string>();
  return {
    get length() { return m.size; },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => { m.delete(k); },
    setItem: (k, v) => {
      if (v.length > quota) throw new DOMException('quota', 'QuotaExceededError');
      m.set(k, v);
    },
  };
}

const chat = (): SavedChat => ({
  version: 1,
  modelId: 'stories260k',
  settings: { temperature: 0, maxTokens: 40, systemPrompt: 'be brief' },
  turns: [
    { id: 'u1', role: 'user', text: 'look', attachments: [{ kind: 'image', name: 'a.png', thumbUrl: `data:image/jpeg;base64,${'A'.repeat(5000)}`, mediaKey: 'u1/0', width: 640, height: 480 }] },
    { id: 'a1', role: 'assistant', text: 'a reply', stats: { promptTokens: 5, completionTokens: 2, cachedPromptTokens: 0, ttftMs: 10, prefillTokensPerS: 500, decodeTokensPerS: 20, finish: 'stop' } },
  ],
});

describe('chat store', () => {
  it('saves and loads a conversation as it was', () => {
    const s = memoryStorage();
    expect(saveChat(chat(), s)).toBe(true);
    expect(loadChat(s)).toEqual(chat());
  });

  it('keeps the words when the pictures do not fit the quota', () => {
    const s = memoryStorage(2000);
    expect(saveChat(chat(), s)).toBe(true);
    const back = loadChat(s);
    expect(back.turns.map((t) => t.text)).toEqual(['look', 'a reply']);
    expect(back.turns[0].attachments).toEqual([]);
    expect(back.turns[0].attachmentsDropped).toBe(true);
  });

  it('reports a conversation that does not fit at all', () => {
    expect(saveChat(chat(), memoryStorage(10))).toBe(false);
  });

  it('starts empty on missing, foreign or broken data, and drops malformed turns', () => {
    const s = memoryStorage();
    expect(loadChat(s).turns).toEqual([]);
    s.setItem('edgewise.chat.v1', '{not json');
    expect(loadChat(s)).toEqual({ version: 1, turns: [], modelId: null, settings: DEFAULT_SETTINGS });
    s.setItem('edgewise.chat.v1', JSON.stringify({ version: 2, turns: [] }));
    expect(loadChat(s).turns).toEqual([]);
    s.setItem('edgewise.chat.v1', JSON.stringify({ version: 1, turns: [null, { id: 'x', role: 'system', text: 'no' }, { id: 'y', role: 'user', text: 'yes' }, { role: 'user', text: 'no id' }] }));
    expect(loadChat(s).turns).toEqual([{ id: 'y', role: 'user', text: 'yes' }]);
    expect(loadChat(s).settings).toEqual(DEFAULT_SETTINGS);
  });
});
