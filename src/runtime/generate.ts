// Generation: chunked prefill, then one submission per decoded token that records the forward pass,
// the token choice and the 4-byte read-back together.
//
// A prompt is token ids, or segments of token ids and media (an image's begin/end tokens and embedding
// rows from a vision family). The prefix cache compares positions by key: a token by its id, a media
// position by its media's key (a hash of its pixels) and its index, so a different image at the same
// positions is never a match. A media segment is prefilled whole (its rows may attend to each other), and
// produced (encoded) only when it is not already cached.

import { EdgewiseError } from '../gpu/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { argmax, sample, sampleWorkspace, type SampleWorkspace } from '../kernels/sample.ts';
import type { LanguageModel } from '../models/llm.ts';
import type { StreamDecoder } from '../tokenizer/tokenizer.ts';
import { StopStringMatcher } from './stop-strings.ts';

/** llama.cpp's default penalty_last_n: the penalties look at this many most recent tokens. */
export const DEFAULT_PENALTY_LAST_N = 64;

/** The prompt does not fit the KV cache this model was loaded with. */
export class ContextOverflowError extends EdgewiseError {
  override name = 'ContextOverflowError';
  constructor(readonly promptTokens: number, readonly contextLength: number) {
    super(`the prompt has ${promptTokens} tokens; the context holds ${contextLength}`, { promptTokens, contextLength });
  }
}

/** What a media segment prefills: literal ids, or F32 [rows, nEmbd] embeddings in one batch (causal
 *  false: the rows see each other). The generator releases embedding tensors once they are prefilled. */
export type PrefillChunk =
  | { kind: 'tokens'; ids: readonly number[] }
  | { kind: 'embeddings'; embeddings: Tensor; causal: boolean };

/** A run of prompt positions from one image or clip. */
export interface MediaSegment {
  kind: 'media';
  /** Identity of the media (a hash of its pixels): position i is cached as `${key}#${i}`. */
  key: string;
  /** Positions it takes; produce() must yield exactly this many. */
  positions: number;
  /** Encode and wrap; called only when the segment is not served from the cache. */
  produce(): Promise<PrefillChunk[]>;
}

export type PromptSegment = { kind: 'tokens'; ids: readonly number[] } | MediaSegment;

/** Token ids, or segments of tokens and media. */
export type Prompt = readonly number[] | { segments: readonly PromptSegment[] };

/** A cached position: a token id, or a media key and row. */
type PositionKey = number | string;

/** Positions a prompt takes. */
export function promptPositions(prompt: Prompt): number {
  if (!('segments' in prompt)) return prompt.length;
  return prompt.segments.reduce((n, s) => n + (s.kind === 'tokens' ? s.ids.length : s.positions), 0);
}

/** A media segment that does not match its plan (positions produced, rows over the batch). */
export class MediaSegmentError extends EdgewiseError {
  override name = 'MediaSegmentError';
}

/** Token choice beyond greedy: llama.cpp's chain top-k -> top-p -> min-p -> temperature -> draw, on the GPU. */
export interface SamplingOptions {
  /** <= 0: greedy (argmax). */
  temperature: number;
  /** 0 disables. */
  topK?: number;
  /** >= 1 disables. */
  topP?: number;
  /** <= 0 disables. */
  minP?: number;
  /** The draw for the n-th generated token is a pure function of (seed, n). */
  seed: number;
  /** llama.cpp's repeat penalty over the recent tokens (1 or absent: off). Applies to greedy too. */
  repetitionPenalty?: number;
  /** Subtracted once from the logit of each recent token (0 or absent: off). */
  presencePenalty?: number;
  /** Subtracted once per occurrence among the recent tokens (0 or absent: off). */
  frequencyPenalty?: number;
  /** How many of the most recent tokens (prompt and generated) the penalties count; default 64. */
  penaltyLastN?: number;
}

/** Decoded text and stop strings: the generator decodes as it goes and ends on a stop string. */
export interface TextOptions {
  decoder: StreamDecoder;
  /** Strings that end generation; neither they nor any part of them is passed to onText. */
  stop?: readonly string[];
  /** Called with each piece of text that is final (a piece that might start a stop string waits). */
  onText?: (text: string) => void;
}

export interface GenerateOptions {
  maxTokens: number;
  /** Absent or temperature <= 0: greedy. */
  sampling?: SamplingOptions;
  /** Token ids that end generation (EOS/EOT); the stop token is not returned. */
  stopTokens?: readonly number[];
  /** Called with each generated token id as soon as it is known. */
  onToken?: (id: number) => void;
  /** Checked before every forward pass: an abort ends generation within one token. */
  signal?: AbortSignal;
  text?: TextOptions;
}

/** Why generation ended. context_full: the KV cache has no room for another token. */
export type StopReason = 'max_tokens' | 'stop_token' | 'stop_string' | 'context_full' | 'abort';

export interface GenerateResult {
  /** Generated ids; with a stop string, up to and including the token that completed it. */
  tokens: number[];
  promptTokens: number;
  /** Leading prompt tokens whose keys and values were already cached from the previous call. */
  cachedPromptTokens: number;
  /** With text options: everything passed to onText (the stop string excluded); else ''. */
  text: string;
  ttftMs: number;
  prefillMs: number;
  decodeMs: number;
  stoppedBy: StopReason;
  /** Forward passes of one token after the prefill (decodeMs covers these). */
  decodeSteps: number;
}

export class Generator {
  private tokenOut: Tensor;
  /** Positions whose keys and values are in the cache, in order (token ids, media keys). */
  private cached: PositionKey[] = [];
  private sampleWs: SampleWorkspace | null = null;
  /** The recent-token list the penalty kernel reads (sized penaltyLastN; a view covers a shorter one). */
  private penaltyTokens: Tensor | null = null;
  /** The sampling of the current generate() call and the index of the token it picks next. */
  private sampling: SamplingOptions | null = null;
  private step = 0;
  /** Prompt and generated tokens of the current call, for the penalties. */
  private history: number[] = [];

  constructor(readonly gpu: Gpu, readonly model: LanguageModel) {
    this.tokenOut = gpu.tensor([1], 'U32', 'next_token');
  }

  get contextLength(): number {
    return this.model.opts.contextLength;
  }

  /** The positions whose keys and values are cached (the next call reuses the prefix it shares with
   *  them): token ids, and `${mediaKey}#${row}` strings for media. */
  get cachedTokens(): readonly PositionKey[] {
    return this.cached;
  }

  /** Forget the cache: the next call prefills from its first token. */
  reset(): void {
    this.cached = [];
  }

  private penalised(): boolean {
    const s = this.sampling;
    if (!s) return false;
    const on = (s.repetitionPenalty ?? 1) !== 1 || (s.presencePenalty ?? 0) !== 0 || (s.frequencyPenalty ?? 0) !== 0;
    return on && (s.penaltyLastN ?? DEFAULT_PENALTY_LAST_N) > 0;
  }

  /** Record the choice of the next token from the model's logits into tokenOut. */
  private choose(rec: Recorder): void {
    const s = this.sampling;
    const penalties = this.penalised();
    if (!s || (s.temperature <= 0 && !penalties)) {
      argmax(this.gpu, rec, this.model.logits, this.tokenOut);
      return;
    }
    this.sampleWs ??= sampleWorkspace(this.gpu, 1, this.model.logits.shape[this.model.logits.shape.length - 1]);
    let penaltyTokens: Tensor | undefined;
    if (penalties) {
      const lastN = s.penaltyLastN ?? DEFAULT_PENALTY_LAST_N;
      if (!this.penaltyTokens || this.penaltyTokens.numel < lastN) {
        this.penaltyTokens?.release();
        this.penaltyTokens = this.gpu.tensor([lastN], 'U32', 'penalty_tokens');
      }
      // llama.cpp's ring of the last n accepted tokens; the order does not matter to the penalties.
      const recent = this.history.slice(-lastN);
      if (recent.length > 0) {
        // queue.writeBuffer lands before this recorder's submission and after the previous one's.
        this.gpu.write(this.penaltyTokens, new Uint8Array(Uint32Array.from(recent).buffer));
        penaltyTokens = this.penaltyTokens.view([recent.length]);
      }
    }
    sample(this.gpu, rec, this.model.logits, this.tokenOut, {
      temperature: s.temperature, topK: s.topK, topP: s.topP, minP: s.minP, seed: s.seed, step: this.step++,
      repetitionPenalty: s.repetitionPenalty, presencePenalty: s.presencePenalty, frequencyPenalty: s.frequencyPenalty,
      penaltyTokens,
    }, this.sampleWs);
  }

  /** Run the prompt (reusing the cached prefix it shares with the previous call) and return the first
   *  token, or -1 when aborted between forward passes. */
  private async prefill(segments: readonly PromptSegment[], keys: readonly PositionKey[], signal: AbortSignal | undefined): Promise<{ next: number; reused: number }> {
    let common = 0;
    while (common < this.cached.length && common < keys.length - 1 && this.cached[common] === keys[common]) common++;
    // A media segment is prefilled whole: a prefix ending inside one is cut back to its start.
    let at = 0;
    for (const s of segments) {
      const n = s.kind === 'tokens' ? s.ids.length : s.positions;
      if (s.kind === 'media' && at < common && common < at + n) common = at;
      at += n;
    }
    this.cached = this.cached.slice(0, common);
    const B = this.model.opts.maxBatch;
    let next = -1;
    let pos = 0;
    // One forward call per submission: each writes its ids and positions with queue.writeBuffer, which
    // would overtake an earlier forward recorded into the same submission.
    const step = async (run: (rec: Recorder) => void, key: (i: number) => PositionKey, n: number, last: boolean) => {
      const rec = this.gpu.recorder('prefill');
      run(rec);
      let read: Promise<Uint8Array> | null = null;
      if (last) {
        this.choose(rec);
        read = rec.read(this.tokenOut);
      }
      rec.submit();
      if (read) next = new Uint32Array((await read).buffer)[0];
      for (let i = 0; i < n; i++) this.cached.push(key(i));
    };
    for (let si = 0; si < segments.length; si++) {
      const seg = segments[si];
      const lastSeg = si === segments.length - 1;
      if (seg.kind === 'tokens') {
        const start = Math.max(common, pos);
        for (let s = start; s < pos + seg.ids.length; s += B) {
          if (signal?.aborted) return { next: -1, reused: common };
          const ids = seg.ids.slice(s - pos, Math.min(seg.ids.length, s - pos + B)), p0 = s;
          const last = lastSeg && s + ids.length >= pos + seg.ids.length;
          await step((rec) => this.model.forward(rec, ids, p0), (i) => ids[i], ids.length, last);
        }
        pos += seg.ids.length;
        continue;
      }
      if (pos + seg.positions <= common) { pos += seg.positions; continue; }
      if (signal?.aborted) return { next: -1, reused: common };
      const chunks = await seg.produce();
      try {
        const n = chunks.reduce((k, c) => k + (c.kind === 'tokens' ? c.ids.length : c.embeddings.shape[0]), 0);
        if (n !== seg.positions) throw new MediaSegmentError(`media ${seg.key} produced ${n} positions, ${seg.positions} were planned`, { produced: n, planned: seg.positions });
        const first = pos;
        const key = (i: number) => `${seg.key}#${i}`;
        for (let ci = 0; ci < chunks.length; ci++) {
          const c = chunks[ci];
          const lastChunk = lastSeg && ci === chunks.length - 1;
          if (c.kind === 'embeddings') {
            const rows = c.embeddings.shape[0], p0 = pos, off = pos - first;
            if (rows > B) throw new MediaSegmentError(`an embedding chunk of ${rows} rows needs a batch of ${rows}; this model instance takes ${B}`, { rows, maxBatch: B });
            if (signal?.aborted) return { next: -1, reused: common };
            await step((rec) => this.model.forwardEmbeddings(rec, c.embeddings, p0, { causal: c.causal }), (i) => key(off + i), rows, lastChunk);
            pos += rows;
          } else {
            for (let s = 0; s < c.ids.length; s += B) {
              if (signal?.aborted) return { next: -1, reused: common };
              const ids = c.ids.slice(s, s + B), p0 = pos, off = pos - first;
              await step((rec) => this.model.forward(rec, ids, p0), (i) => key(off + i), ids.length, lastChunk && s + B >= c.ids.length);
              pos += ids.length;
            }
          }
        }
      } finally {
        for (const c of chunks) if (c.kind === 'embeddings') c.embeddings.release();
      }
    }
    return { next, reused: common };
  }

  async generate(prompt: Prompt, opts: GenerateOptions): Promise<GenerateResult> {
    const n = promptPositions(prompt);
    if (n === 0) throw new RangeError('generate: the prompt has no tokens');
    if (n > this.contextLength) throw new ContextOverflowError(n, this.contextLength);
    try {
      return await this.run(prompt, opts);
    } catch (e) {
      // What the cache holds after a failure is unknown: the next call starts from scratch.
      this.cached = [];
      throw e;
    }
  }

  private async run(prompt: Prompt, opts: GenerateOptions): Promise<GenerateResult> {
    const stops = new Set(opts.stopTokens ?? []);
    this.sampling = opts.sampling ?? null;
    this.step = 0;
    const segments: readonly PromptSegment[] = 'segments' in prompt ? prompt.segments : [{ kind: 'tokens', ids: prompt }];
    const keys: PositionKey[] = [];
    for (const s of segments) {
      if (s.kind === 'tokens') for (const id of s.ids) keys.push(id);
      else for (let i = 0; i < s.positions; i++) keys.push(`${s.key}#${i}`);
    }
    // The penalties count the prompt's text tokens (media positions have no token id).
    this.history = segments.flatMap((s) => (s.kind === 'tokens' ? s.ids : []));
    const textOpts = opts.text;
    const matcher = new StopStringMatcher(textOpts?.stop ?? []);
    let text = '';
    const emit = (piece: string) => {
      if (!piece) return;
      text += piece;
      textOpts?.onText?.(piece);
    };
    let decodeSteps = 0;
    const t0 = performance.now();
    const { next, reused } = await this.prefill(segments, keys, opts.signal);
    let tok = next;
    const ttftMs = performance.now() - t0;
    const tokens: number[] = [];
    let stoppedBy: StopReason = 'max_tokens';
    const tDecode = performance.now();
    if (tok < 0) stoppedBy = 'abort';
    else {
      while (tokens.length < opts.maxTokens) {
        if (opts.signal?.aborted) { stoppedBy = 'abort'; break; }
        if (stops.has(tok)) { stoppedBy = 'stop_token'; break; }
        tokens.push(tok);
        this.history.push(tok);
        opts.onToken?.(tok);
        if (textOpts) {
          const scan = matcher.push(textOpts.decoder.push(tok));
          emit(scan.text);
          if (scan.stopped !== null) { stoppedBy = 'stop_string'; break; }
        }
        if (tokens.length >= opts.maxTokens) break;
        const pos = this.cached.length;
        if (pos >= this.contextLength) { stoppedBy = 'context_full'; break; }
        if (opts.signal?.aborted) { stoppedBy = 'abort'; break; }
        const rec = this.gpu.recorder('decode');
        this.model.forward(rec, [tok], pos);
        this.choose(rec);
        decodeSteps++;
        const read = rec.read(this.tokenOut);
        rec.submit();
        this.cached.push(tok);
        tok = new Uint32Array((await read).buffer)[0];
      }
    }
    if (textOpts && stoppedBy !== 'stop_string') {
      // The decoder's held bytes may complete (or be) a stop string too.
      const scan = matcher.push(textOpts.decoder.flush());
      emit(scan.text);
      if (scan.stopped !== null) stoppedBy = 'stop_string';
      else emit(matcher.flush());
    }
    const decodeMs = performance.now() - tDecode;
    return {
      tokens, promptTokens: keys.length, cachedPromptTokens: reused, text,
      ttftMs, prefillMs: ttftMs, decodeMs, stoppedBy, decodeSteps,
    };
  }

  dispose(): void {
    this.tokenOut.release();
    this.sampleWs?.release();
    this.sampleWs = null;
    this.penaltyTokens?.release();
    this.penaltyTokens = null;
  }
}
