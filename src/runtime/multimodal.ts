// Prompts with images, as llama.cpp's mtmd builds them for gemma3: the prompt text carries a media marker
// where each image goes; the text around the markers is tokenized (special tokens parsed, BOS on the first
// piece only), and each image becomes <start_of_image>, its soft-token embeddings from the vision
// projector, <end_of_image>. The image rows are decoded as one batch with bidirectional attention among
// themselves (mtmd_decode_use_non_causal is true for gemma3), causal to everything before.
//
// The text Generator keeps a token-only prompt cache; an image prompt is prefilled here from position 0
// and decoded greedily (one submission per token), so the two paths share the model and kernels but not
// the prefix cache.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { EdgewiseError } from '../errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { LanguageModel } from '../models/llm.ts';
import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import { argmax } from '../kernels/sample.ts';

/** llama.cpp mtmd's default media marker (mtmd_default_marker()). */
export const MEDIA_MARKER = '<__media__>';

/** The prompt and the images do not fit together, or the vocabulary lacks the image tokens. */
export class MultimodalPromptError extends EdgewiseError {
  override name = 'MultimodalPromptError';
}

export type PromptChunk =
  | { kind: 'tokens'; ids: number[] }
  /** `rows` soft tokens of image number `image` (an index into the embeddings passed alongside). */
  | { kind: 'image'; image: number; rows: number };

/** The id of a special token given by its text, which must be one token of the vocabulary. */
function specialId(tok: TextTokenizer, text: string): number {
  const ids = tok.encode(text, { parseSpecial: true });
  if (ids.length !== 1 || tok.tokenText(ids[0]) !== text) {
    throw new MultimodalPromptError(`the vocabulary has no '${text}' token (it tokenizes to [${ids.join(', ')}]); this text model does not take gemma3 images`, { token: text, ids });
  }
  return ids[0];
}

export interface Gemma3ImageTokens {
  begin: number;
  end: number;
}

export function gemma3ImageTokens(tok: TextTokenizer): Gemma3ImageTokens {
  return { begin: specialId(tok, '<start_of_image>'), end: specialId(tok, '<end_of_image>') };
}

/**
 * Split `text` at MEDIA_MARKER and place image i (imageRows[i] soft tokens) at marker i, wrapped in
 * gemma3's image tokens. Text pieces are tokenized with special tokens parsed; `addSpecial` (BOS as the
 * vocabulary says) applies to the first piece only, as llama.cpp does.
 */
export function assembleGemma3Prompt(tok: TextTokenizer, text: string, imageRows: readonly number[], opts: { addSpecial?: boolean } = {}): PromptChunk[] {
  const pieces = text.split(MEDIA_MARKER);
  if (pieces.length - 1 !== imageRows.length) {
    throw new MultimodalPromptError(`the prompt has ${pieces.length - 1} image marker(s) '${MEDIA_MARKER}' but ${imageRows.length} image(s) were given`, { markers: pieces.length - 1, images: imageRows.length });
  }
  const { begin, end } = gemma3ImageTokens(tok);
  const chunks: PromptChunk[] = [];
  const pushTokens = (ids: number[]) => {
    if (!ids.length) return;
    const last = chunks[chunks.length - 1];
    if (last?.kind === 'tokens') last.ids.push(...ids);
    else chunks.push({ kind: 'tokens', ids: [...ids] });
  };
  pieces.forEach((piece, i) => {
    pushTokens(tok.encode(piece, { parseSpecial: true, addSpecial: i === 0 && (opts.addSpecial ?? true) }));
    if (i < imageRows.length) {
      pushTokens([begin]);
      chunks.push({ kind: 'image', image: i, rows: imageRows[i] });
      pushTokens([end]);
    }
  });
  return chunks;
}

/** Positions (KV rows) a prompt takes. */
export function promptLength(chunks: readonly PromptChunk[]): number {
  return chunks.reduce((n, c) => n + (c.kind === 'tokens' ? c.ids.length : c.rows), 0);
}

export interface ImageGenerateOptions {
  maxTokens: number;
  /** Token ids that end generation (not included in the result). Default: none. */
  stopTokens?: readonly number[];
  onToken?: (id: number) => void;
}

export interface ImageGenerateResult {
  tokens: number[];
  promptPositions: number;
  prefillMs: number;
  decodeMs: number;
}

/**
 * Prefill `chunks` from position 0 (token chunks in batches of the model's maxBatch, each image in one
 * batch with causal attention off) and decode greedily. `images[i]` holds image i's embeddings,
 * F32 [rows, nEmbd].
 */
export async function generateWithImages(gpu: Gpu, model: LanguageModel, chunks: readonly PromptChunk[], images: readonly Tensor[], opts: ImageGenerateOptions): Promise<ImageGenerateResult> {
  const total = promptLength(chunks);
  const { maxBatch, contextLength } = model.opts;
  if (total === 0) throw new MultimodalPromptError('the prompt is empty');
  if (total > contextLength) throw new MultimodalPromptError(`the prompt takes ${total} positions; the context holds ${contextLength}`, { positions: total, contextLength });
  for (const c of chunks) {
    if (c.kind !== 'image') continue;
    const t = images[c.image];
    if (!t) throw new MultimodalPromptError(`image ${c.image} has no embeddings`, { image: c.image });
    if (t.shape[0] !== c.rows) throw new MultimodalPromptError(`image ${c.image} has ${t.shape[0]} embedding rows, the prompt expects ${c.rows}`, { rows: t.shape[0], expected: c.rows });
    // The rows of one image see each other, so they must share one batch.
    if (c.rows > maxBatch) throw new MultimodalPromptError(`an image of ${c.rows} soft tokens needs a batch of at least ${c.rows}; this model instance takes ${maxBatch}`, { rows: c.rows, maxBatch });
  }
  const next = gpu.tensor([1], 'U32', 'next_token');
  try {
    const t0 = performance.now();
    // One submission per forward call: each writes its token ids and positions with queue.writeBuffer,
    // which would overtake an earlier forward recorded into the same submission.
    const steps: ((rec: Recorder) => void)[] = [];
    let pos = 0;
    for (const c of chunks) {
      const at = pos;
      if (c.kind === 'image') {
        steps.push((rec) => model.forwardEmbeddings(rec, images[c.image], at, { causal: false }));
        pos += c.rows;
      } else {
        for (let s = 0; s < c.ids.length; s += maxBatch) {
          const ids = c.ids.slice(s, s + maxBatch), p0 = at + s;
          steps.push((rec) => model.forward(rec, ids, p0));
        }
        pos += c.ids.length;
      }
    }
    let first = -1;
    for (let i = 0; i < steps.length; i++) {
      const rec = gpu.recorder('prefill');
      steps[i](rec);
      let read: Promise<Uint8Array> | null = null;
      if (i === steps.length - 1) {
        argmax(gpu, rec, model.logits, next);
        read = rec.read(next);
      }
      rec.submit();
      if (read) first = new Uint32Array((await read).buffer)[0];
    }
    const prefillMs = performance.now() - t0;
    const stops = new Set(opts.stopTokens ?? []);
    const tokens: number[] = [];
    const t1 = performance.now();
    let tok = first;
    while (tokens.length < opts.maxTokens && !stops.has(tok)) {
      tokens.push(tok);
      opts.onToken?.(tok);
      if (tokens.length >= opts.maxTokens || pos >= contextLength) break;
      const rec = gpu.recorder('decode');
      model.forward(rec, [tok], pos++);
      argmax(gpu, rec, model.logits, next);
      const read = rec.read(next);
      rec.submit();
      tok = new Uint32Array((await read).buffer)[0];
    }
    return { tokens, promptPositions: total, prefillMs, decodeMs: performance.now() - t1 };
  } finally {
    next.release();
  }
}
