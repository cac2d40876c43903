// The benchmark page's prompt: plain text that the model's tokenizer turns into exactly the asked number
// of tokens. wllama's completion call takes text only (its JSON glue refuses token ids), so both
// engines are given text: edgewise the ids of its tokenizer (token-for-token llama.cpp's, see
// src/tokenizer tests), wllama the text, and the peer checks that llama.cpp counted the same length.
// Token values do not change the work of a forward pass; only the count does.

import type { TextTokenizer } from '../tokenizer/tokenizer.ts';

// Plain prose, written for this file; repeated for long prompts.
const PASSAGE = (
  'The lighthouse keeper climbed the stairs every evening before the sun went down. ' +
  'He carried a small lamp, a book about ships and a cup of tea that was always too hot. ' +
  'From the top he could see the whole bay, the fishing boats coming home and the gulls ' +
  'circling over the market. One night a storm rolled in from the west, and the wind pulled ' +
  'at the windows until the glass sang. The keeper trimmed the wick, wound the clockwork and ' +
  'watched the beam sweep across the water. Far out, a little boat was fighting the waves. ' +
  'He rang the bell again and again so that the sailors would know where the rocks were. ' +
  'In the morning the sea was calm, the boat was safe in the harbour, and the keeper went ' +
  'home to sleep while the town woke up around him. '
).trim().split(/\s+/);

/** Words that add one token after a space in most vocabularies. */
const FILLERS = [' a', ' the', ' and', ' of', ' to', ' it', ' I', ' was', '.', ','];

export class PromptLengthError extends Error {
  override name = 'PromptLengthError';
  constructor(readonly wanted: number, readonly reached: number) {
    super(`could not build a text prompt of exactly ${wanted} tokens with this tokenizer (closest: ${reached})`);
  }
}

/** Text whose tokenization (with the model's BOS, special tokens parsed, as a completion request is
 *  tokenized by edgewise and llama.cpp) is exactly `tokens` long, and those ids. */
export function benchPrompt(tok: TextTokenizer, tokens: number): { text: string; ids: number[] } {
  if (!(Number.isInteger(tokens) && tokens >= 1)) throw new RangeError(`prompt tokens must be an integer >= 1, got ${tokens}`);
  const encode = (t: string) => tok.encode(t, { addSpecial: true, parseSpecial: true });
  const words = (n: number) => Array.from({ length: n }, (_, i) => PASSAGE[i % PASSAGE.length]).join(' ');
  // The longest run of whole words that does not exceed the count (token count grows with words).
  let lo = 0, hi = 1;
  while (encode(words(hi)).length <= tokens) { lo = hi; hi *= 2; }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (encode(words(mid)).length <= tokens) lo = mid; else hi = mid;
  }
  let text = words(lo);
  let ids = encode(text);
  // Then one-token words until the count is reached.
  while (ids.length < tokens) {
    let grown = false;
    for (const f of FILLERS) {
      const next = encode(text + (text ? f : f.trimStart()));
      if (next.length === ids.length + 1) {
        text += text ? f : f.trimStart();
        ids = next;
        grown = true;
        break;
      }
    }
    if (!grown) throw new PromptLengthError(tokens, ids.length);
  }
  if (ids.length !== tokens) throw new PromptLengthError(tokens, ids.length);
  return { text, ids };
}
