// Generation: chunked prefill, then one submission per decoded token that records the forward pass,
// the token choice and the 4-byte read-back together.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { argmax, sample, sampleWorkspace, type SampleWorkspace } from '../kernels/sample.ts';
import type { LanguageModel } from '../models/llm.ts';

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
}

export interface GenerateOptions {
  maxTokens: number;
  /** Absent or temperature <= 0: greedy. */
  sampling?: SamplingOptions;
  /** Token ids that end generation (EOS/EOT); the stop token is not returned. */
  stopTokens?: readonly number[];
  /** Called with each generated token id as soon as it is known. */
  onToken?: (id: number) => void;
  signal?: AbortSignal;
}

export interface GenerateResult {
  tokens: number[];
  promptTokens: number;
  ttftMs: number;
  prefillMs: number;
  decodeMs: number;
  stoppedBy: 'max_tokens' | 'stop_token' | 'abort';
  /** Forward passes of one token after the prefill (decodeMs covers these). */
  decodeSteps: number;
}

export class Generator {
  private tokenOut: Tensor;
  /** Tokens whose keys and values are in the cache, in order. */
  private cached: number[] = [];
  private sampleWs: SampleWorkspace | null = null;
  /** The sampling of the current generate() call and the index of the token it picks next. */
  private sampling: SamplingOptions | null = null;
  private step = 0;

  constructor(readonly gpu: Gpu, readonly model: LanguageModel) {
    this.tokenOut = gpu.tensor([1], 'U32', 'next_token');
  }

  /** Record the choice of the next token from the model's logits into tokenOut. */
  private choose(rec: Recorder): void {
    const s = this.sampling;
    if (!s || s.temperature <= 0) {
      argmax(this.gpu, rec, this.model.logits, this.tokenOut);
      return;
    }
    this.sampleWs ??= sampleWorkspace(this.gpu, 1, this.model.logits.shape[this.model.logits.shape.length - 1]);
    sample(this.gpu, rec, this.model.logits, this.tokenOut, {
      temperature: s.temperature, topK: s.topK, topP: s.topP, minP: s.minP, seed: s.seed, step: this.step++,
    }, this.sampleWs);
  }

  /** Run the prompt (reusing the cached prefix it shares with the previous call) and return the first token. */
  private async prefill(prompt: readonly number[]): Promise<number> {
    let common = 0;
    while (common < this.cached.length && common < prompt.length - 1 && this.cached[common] === prompt[common]) common++;
    this.cached = this.cached.slice(0, common);
    const B = this.model.opts.maxBatch;
    let next = -1;
    for (let start = common; start < prompt.length; start += B) {
      const chunk = prompt.slice(start, Math.min(prompt.length, start + B));
      const last = start + chunk.length >= prompt.length;
      const rec = this.gpu.recorder('prefill');
      this.model.forward(rec, chunk, start);
      let read: Promise<Uint8Array> | null = null;
      if (last) {
        this.choose(rec);
        read = rec.read(this.tokenOut);
      }
      rec.submit();
      if (read) next = new Uint32Array((await read).buffer)[0];
      this.cached.push(...chunk);
    }
    return next;
  }

  async generate(prompt: readonly number[], opts: GenerateOptions): Promise<GenerateResult> {
    if (prompt.length === 0) throw new RangeError('generate: the prompt has no tokens');
    const stops = new Set(opts.stopTokens ?? []);
    this.sampling = opts.sampling ?? null;
    this.step = 0;
    let decodeSteps = 0;
    const t0 = performance.now();
    let tok = await this.prefill(prompt);
    const ttftMs = performance.now() - t0;
    const tokens: number[] = [];
    let stoppedBy: GenerateResult['stoppedBy'] = 'max_tokens';
    const tDecode = performance.now();
    while (tokens.length < opts.maxTokens) {
      if (opts.signal?.aborted) { stoppedBy = 'abort'; break; }
      if (stops.has(tok)) { stoppedBy = 'stop_token'; break; }
      tokens.push(tok);
      opts.onToken?.(tok);
      if (tokens.length >= opts.maxTokens) break;
      const pos = this.cached.length;
      if (pos >= this.model.opts.contextLength) break;
      const rec = this.gpu.recorder('decode');
      this.model.forward(rec, [tok], pos);
      this.choose(rec);
      decodeSteps++;
      const read = rec.read(this.tokenOut);
      rec.submit();
      this.cached.push(tok);
      tok = new Uint32Array((await read).buffer)[0];
    }
    const decodeMs = performance.now() - tDecode;
    return { tokens, promptTokens: prompt.length, ttftMs, prefillMs: ttftMs, decodeMs, stoppedBy, decodeSteps };
  }

  dispose(): void {
    this.tokenOut.release();
    this.sampleWs?.release();
    this.sampleWs = null;
  }
}
