// Generation: chunked prefill, then one submission per decoded token that records the forward pass,
// the token choice and the 4-byte read-back together.

import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { argmax } from '../kernels/sample.ts';
import type { LanguageModel } from '../models/llm.ts';

export interface GenerateOptions {
  maxTokens: number;
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
}

export class Generator {
  private tokenOut: Tensor;
  /** Tokens whose keys and values are in the cache, in order. */
  private cached: number[] = [];

  constructor(readonly gpu: Gpu, readonly model: LanguageModel) {
    this.tokenOut = gpu.tensor([1], 'U32', 'next_token');
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
        argmax(this.gpu, rec, this.model.logits, this.tokenOut);
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
      argmax(this.gpu, rec, this.model.logits, this.tokenOut);
      const read = rec.read(this.tokenOut);
      rec.submit();
      this.cached.push(tok);
      tok = new Uint32Array((await read).buffer)[0];
    }
    const decodeMs = performance.now() - tDecode;
    return { tokens, promptTokens: prompt.length, ttftMs, prefillMs: ttftMs, decodeMs, stoppedBy };
  }

  dispose(): void {
    this.tokenOut.release();
  }
}
