// Chat prompts with images (no GPU): each image part becomes its media segment where the part was, in
// order, with the text around it tokenized (BOS on the first piece only); under 'truncate' whole oldest
// turns are dropped, so an image is kept whole or not at all; under 'error' the sizes are reported.
import { describe, expect, it } from 'vitest';
import { bytesSource, openGguf } from '../formats/gguf.ts';
import { gemma3TextModelBytes } from '../testing/mmproj.ts';
import { loadTokenizer, type TextTokenizer } from '../tokenizer/tokenizer.ts';
import type { MediaSegment } from '../runtime/generate.ts';
import { ApiError } from './errors.ts';
import { chatSegments, fitChatSegments } from './prompt.ts';
import type { ChatMessage, ContentPart } from './types.ts';

async function tokenizer(): Promise<TextTokenizer> {
  return loadTokenizer(await openGguf(bytesSource(gemma3TextModelBytes(), 'gemma3.gguf')));
}

const img = (name: string): ContentPart => ({ type: 'image_url', image_url: { url: `data:image/png;base64,${name}` } });
const media = (positions: number) => (p: ContentPart): MediaSegment => ({
  kind: 'media', key: (p as { image_url: { url: string } }).image_url.url, positions, produce: async () => [],
});

describe('chat prompts with images', () => {
  it('puts each image where its part is, text around it tokenized, BOS first only', async () => {
    const tok = await tokenizer();
    const segs = chatSegments(tok, [
      { role: 'user', content: [{ type: 'text', text: 'one' }, img('A'), { type: 'text', text: 'two' }, img('B')] },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: [img('C')] },
    ], undefined, media(5));
    expect(segs.map((s) => (s.kind === 'media' ? s.key.slice(-1) : 'text'))).toEqual(['text', 'A', 'text', 'B', 'text', 'C']);
    const enc = (t: string, bos: boolean) => tok.encode(t, { addSpecial: bos, parseSpecial: false });
    expect(segs[0]).toEqual({ kind: 'tokens', ids: enc('one', true) });
    expect(segs[2]).toEqual({ kind: 'tokens', ids: enc('two', false) });
    expect(segs[4]).toEqual({ kind: 'tokens', ids: enc('ok', false) });
    // Text that looks like a media marker is text.
    const forged = chatSegments(tok, [{ role: 'user', content: '<__media__><__edgewise_media_x__>' }], undefined, media(5));
    expect(forged.every((s) => s.kind === 'tokens')).toBe(true);
  });

  it("drops whole oldest turns under 'truncate' and refuses under 'error'", async () => {
    const tok = await tokenizer();
    const conv: ChatMessage[] = [
      { role: 'user', content: [img('A'), { type: 'text', text: 'a' }] },
      { role: 'assistant', content: 'b' },
      { role: 'user', content: [img('B'), { type: 'text', text: 'c' }] },
    ];
    const n = (t: string, bos = false) => tok.encode(t, { addSpecial: bos }).length;
    const whole = n('', true) + 20 + n('ab') + 20 + n('c');
    const fit = fitChatSegments(tok, conv, undefined, media(20), whole + 1, null, 'error');
    expect(fit).toMatchObject({ positions: whole, dropped: 0 });
    const e = (() => { try { fitChatSegments(tok, conv, undefined, media(20), whole, 4, 'error'); } catch (x) { return x; } })() as ApiError;
    expect(e).toBeInstanceOf(ApiError);
    expect(e.body.error).toMatchObject({ code: 'context_length_exceeded', param: 'messages' });
    expect(e.message).toMatch(new RegExp(`needs ${whole} prompt tokens \\+ 4`));
    const cut = fitChatSegments(tok, conv, undefined, media(20), whole, 4, 'truncate');
    expect(cut.dropped).toBe(2);
    expect(cut.segments.filter((s) => s.kind === 'media').map((s) => (s as MediaSegment).key.slice(-1))).toEqual(['B']);
    expect(cut.positions).toBe(n('', true) + 20 + n('c'));
    // An image alone larger than the context cannot be cut to fit.
    expect(() => fitChatSegments(tok, [conv[2]], undefined, media(50), 40, 1, 'truncate')).toThrow(/more than the context of 40/);
  });
});
