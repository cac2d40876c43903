import { describe, expect, test } from 'vitest';
import { join } from 'node:path';
import { openGgufPath } from '../formats/gguf-node.ts';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';
import { benchPrompt } from './prompt.ts';

const MODELS = join(import.meta.dirname, '../../../shared/models');

describe('benchPrompt', () => {
  test('stories260K: text of exactly the asked token count, BOS first, re-encoding gives the same ids', async () => {
    const gguf = await openGgufPath(join(MODELS, 'stories260K.gguf'));
    const tok = loadTokenizer(gguf);
    await gguf.close();
    for (const n of [1, 2, 3, 7, 16, 31, 64, 200, 512]) {
      const { text, ids } = benchPrompt(tok, n);
      expect(ids.length, `n=${n}`).toBe(n);
      expect(ids[0]).toBe(tok.bos);
      expect(tok.encode(text, { addSpecial: true, parseSpecial: true })).toEqual(ids);
    }
    expect(() => benchPrompt(tok, 0)).toThrow(RangeError);
  });
});

test('benchPrompt: a second vocabulary (phi-3, 32k SentencePiece pieces)', async () => {
  const gguf = await openGgufPath(join(MODELS, 'ggml-vocab-phi-3.gguf'));
  const tok = loadTokenizer(gguf);
  await gguf.close();
  for (const n of [1, 5, 33, 128]) {
    const { text, ids } = benchPrompt(tok, n);
    expect(ids.length, `n=${n}`).toBe(n);
    expect(tok.encode(text, { addSpecial: true, parseSpecial: true })).toEqual(ids);
  }
});
