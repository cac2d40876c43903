// The language-model forward pass: one shared transformer block, parameterised by the architecture
// description, over the kernel library. A call records every dispatch of a batch of tokens into one
// Recorder, so a decoded token costs one queue submission.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import { Tensor } from '../gpu/tensor.ts';
import { getRowsFromParts } from '../kernels/get-rows.ts';
import { rmsnorm } from '../kernels/norm.ts';
import { matmul, matmulRowParts, type WeightPart } from '../kernels/matmul.ts';
import { rope, llama3RopeFreqFactors, type RopeOptions } from '../kernels/rope.ts';
import { attention, writeKv } from '../kernels/attention.ts';
import { swiglu, geglu } from '../kernels/activation.ts';
import { add } from '../kernels/add.ts';
import { actQuantModeFor, fakeQuantAct } from '../kernels/act-quant.ts';
import type { LlmHparams } from './hparams.ts';

/** The model's weights on the GPU by GGUF tensor name. */
export interface WeightSet {
  get(name: string): Tensor;
  has(name: string): boolean;
  /** A vocabulary table as consecutive row parts (one part when it fits one binding). */
  parts(name: string): readonly WeightPart[];
}

export interface LlmOptions {
  /** KV cache length in tokens (the context window this instance serves). */
  contextLength: number;
  /** Most tokens one forward call takes (prefill chunk); workspaces are sized for it. */
  maxBatch: number;
  /** Round activations before each matmul as llama.cpp's CPU backend does (Q8_0 / Q8_K / F16 by weight
   *  type), and take GELU from its f16 table, so logits can be compared with it closely. Costs one extra
   *  dispatch per matmul. */
  llamaCppActivationRounding?: boolean;
}

interface Workspace {
  ids: Tensor; pos: Tensor;
  x: Tensor; h: Tensor; q: Tensor; k: Tensor; v: Tensor; att: Tensor;
  gate: Tensor; up: Tensor; act: Tensor; tmp: Tensor; xq: Tensor | null;
  last: Tensor; logits: Tensor;
}

/** One GPU buffer the model takes besides its weights: the KV cache per layer and the workspaces. */
export interface ModelBuffer {
  label: string;
  shape: number[];
  dtype: 'F32' | 'U32';
  bytes: number;
}

/** Every buffer a LanguageModel allocates, so the loader can check them against the device first. */
export function languageModelBuffers(hp: LlmHparams, opts: LlmOptions): ModelBuffer[] {
  const { nLayer, nHeadKv, headDim, nEmbd, nHead, nFf, vocabSize } = hp;
  const B = opts.maxBatch;
  const C = opts.contextLength;
  const out: ModelBuffer[] = [];
  const add = (label: string, shape: number[], dtype: 'F32' | 'U32' = 'F32') => out.push({ label, shape, dtype, bytes: 4 * shape.reduce((a, d) => a * d, 1) });
  for (let l = 0; l < nLayer; l++) {
    add(`k_cache.${l}`, [C, nHeadKv, headDim]);
    add(`v_cache.${l}`, [C, nHeadKv, headDim]);
  }
  add('ids', [B], 'U32');
  add('pos', [B], 'U32');
  add('x', [B, nEmbd]);
  add('h', [B, nEmbd]);
  add('q', [B, nHead, headDim]);
  add('k', [B, nHeadKv, headDim]);
  add('v', [B, nHeadKv, headDim]);
  add('att', [B, nHead, headDim]);
  add('gate', [B, 2 * nFf]); // [gate | up] per row when the FFN's projections are fused
  add('up', [B, nFf]);
  add('act', [B, nFf]);
  add('tmp', [B, nEmbd]);
  if (opts.llamaCppActivationRounding) add('xq', [B, Math.max(nEmbd, nFf, nHead * headDim)]);
  add('last', [1, nEmbd]);
  add('logits', [1, vocabSize]);
  return out;
}

export class LanguageModel {
  readonly kCache: Tensor[] = [];
  readonly vCache: Tensor[] = [];
  private readonly ws: Workspace;
  private freqFactors: Tensor | null = null;

  constructor(readonly gpu: Gpu, readonly hp: LlmHparams, readonly weights: WeightSet, readonly opts: LlmOptions) {
    const plan = languageModelBuffers(hp, opts);
    const made: Tensor[] = [];
    try {
      // The loader checked these sizes against the device before uploading; a failure here still
      // releases what was taken so the Gpu stays usable.
      const ws: Partial<Record<string, Tensor | null>> = { xq: null };
      for (const b of plan) {
        const t = gpu.tensor(b.shape, b.dtype, b.label);
        made.push(t);
        if (b.label.startsWith('k_cache.')) this.kCache.push(t);
        else if (b.label.startsWith('v_cache.')) this.vCache.push(t);
        else ws[b.label] = t;
      }
      this.ws = ws as unknown as Workspace;
      if (hp.ropeScaling.type === 'llama3' && !weights.has('rope_freqs.weight')) {
        this.freqFactors = gpu.upload(llama3RopeFreqFactors({
          factor: hp.ropeScaling.factor, lowFreqFactor: 1, highFreqFactor: 4,
          originalMaxPositionEmbeddings: hp.ropeScaling.originalContext, nDims: hp.ropeDims, freqBase: hp.ropeBase,
        }), [hp.ropeDims / 2], 'F32', 'rope_freqs');
      }
    } catch (e) {
      for (const t of made) t.release();
      throw e;
    }
  }

  /** x · Wᵀ, with llama.cpp's activation rounding first when asked for. */
  /** out = x · wᵀ (+ bias, or accumulated into out); w may be a vocabulary table in row parts. */
  private linear(rec: Recorder, x: Tensor, w: Tensor | readonly WeightPart[], out: Tensor, opts: { bias?: Tensor; accumulate?: boolean } = {}): void {
    const dtype = w instanceof Tensor ? w.dtype : w[0].t.dtype;
    const mode = this.ws.xq ? actQuantModeFor(dtype) : null;
    if (mode && this.ws.xq) {
      const xq = this.ws.xq.view(x.shape);
      fakeQuantAct(this.gpu, rec, x, xq, mode);
      x = xq;
    }
    if (w instanceof Tensor) matmul(this.gpu, rec, x, w, out, opts);
    else matmulRowParts(this.gpu, rec, x, w, out, opts);
  }

  /** The logits tensor written by forward() for the last token of the batch. */
  get logits(): Tensor {
    return this.ws.logits;
  }

  private ropeOptions(layer: number): RopeOptions {
    const hp = this.hp;
    const swa = this.isSwaLayer(layer);
    const s = hp.ropeScaling;
    const o: RopeOptions = {
      mode: hp.arch.rope,
      nDims: hp.ropeDims,
      freqBase: swa ? hp.ropeBaseSwa : hp.ropeBase,
      freqScale: !swa && (s.type === 'linear' || s.type === 'yarn') ? 1 / s.factor : 1,
    };
    const ff = this.weights.has('rope_freqs.weight') ? this.weights.get('rope_freqs.weight') : this.freqFactors;
    if (ff && !swa) o.freqFactors = ff;
    if (s.type === 'yarn' && !swa) {
      o.yarn = { extFactor: s.yarnExtFactor, attnFactor: s.yarnAttnFactor, betaFast: s.yarnBetaFast, betaSlow: s.yarnBetaSlow, nCtxOrig: s.originalContext };
    }
    return o;
  }

  private isSwaLayer(layer: number): boolean {
    return this.hp.swaLayers[layer] ?? false;
  }

  /**
   * Record the forward pass of `tokens` sitting at positions pos0.. into `rec`; the logits of the last
   * token land in `this.logits`. Token ids and positions are written with queue.writeBuffer (no
   * allocation); the caller submits.
   */
  forward(rec: Recorder, tokens: ArrayLike<number>, pos0: number): Tensor {
    const { gpu, hp, weights: W } = this;
    const T = tokens.length;
    this.checkBatch(T, pos0);
    for (let i = 0; i < T; i++) {
      if (!(tokens[i] >= 0 && tokens[i] < hp.vocabSize)) throw new ShapeError('forward', `token id ${tokens[i]} is outside the vocabulary of ${hp.vocabSize}`, { token: tokens[i] });
    }
    const ws = this.ws;
    gpu.write(ws.ids, new Uint8Array(Uint32Array.from(tokens).buffer));
    getRowsFromParts(gpu, rec, W.parts('token_embd.weight'), ws.ids.view([T]), ws.x.view([T, hp.nEmbd]), hp.arch.embedScale ? { scale: Math.sqrt(hp.nEmbd) } : {});
    return this.layers(rec, T, pos0, true);
  }

  /**
   * The forward pass over embeddings given directly instead of token ids: `embeddings` F32 [T, nEmbd],
   * e.g. an image's soft tokens from the vision projector, copied in as they are (llama.cpp scales only
   * looked-up token embeddings, gemma's sqrt(nEmbd) included). With `causal: false` every row also sees
   * the rows after it in this batch (gemma3's bidirectional attention within one image), and everything
   * before pos0 as usual.
   */
  forwardEmbeddings(rec: Recorder, embeddings: Tensor, pos0: number, opts: { causal: boolean }): Tensor {
    const { nEmbd } = this.hp;
    if (embeddings.dtype !== 'F32' || embeddings.shape.length !== 2 || embeddings.shape[1] !== nEmbd) {
      throw new ShapeError('forward', `embeddings are ${embeddings.dtype}[${embeddings.shape.join(', ')}], expected F32[T, ${nEmbd}]`, { shape: embeddings.shape, nEmbd });
    }
    const T = embeddings.shape[0];
    this.checkBatch(T, pos0);
    rec.copy(embeddings, this.ws.x, T * nEmbd * 4);
    return this.layers(rec, T, pos0, opts.causal);
  }

  private checkBatch(T: number, pos0: number): void {
    if (T < 1 || T > this.opts.maxBatch) throw new ShapeError('forward', `batch of ${T} tokens; this instance takes 1..${this.opts.maxBatch}`);
    if (pos0 + T > this.opts.contextLength) {
      throw new ShapeError('forward', `positions ${pos0}..${pos0 + T - 1} exceed the context length ${this.opts.contextLength}`, { pos0, T, contextLength: this.opts.contextLength });
    }
  }

  /** Every layer and the last row's logits, for T rows whose input embeddings are already in ws.x. */
  private layers(rec: Recorder, T: number, pos0: number, causal: boolean): Tensor {
    const { gpu, hp, weights: W } = this;
    const ws = this.ws;
    const { nEmbd, nHead, nHeadKv, headDim, nFf } = hp;
    gpu.write(ws.pos, new Uint8Array(Uint32Array.from({ length: T }, (_, i) => pos0 + i).buffer));
    const pos = ws.pos.view([T]);
    const x = ws.x.view([T, nEmbd]);
    const h = ws.h.view([T, nEmbd]);
    const q = ws.q.view([T, nHead, headDim]);
    const k = ws.k.view([T, nHeadKv, headDim]);
    const v = ws.v.view([T, nHeadKv, headDim]);
    const att = ws.att.view([T, nHead, headDim]);
    const gate = ws.gate.view([T, nFf]);
    const up = ws.up.view([T, nFf]);
    const act = ws.act.view([T, nFf]);
    const tmp = ws.tmp.view([T, nEmbd]);
    const eps = hp.rmsEps;

    for (let l = 0; l < hp.nLayer; l++) {
      const p = `blk.${l}.`;
      const opt = (n: string) => (W.has(p + n) ? W.get(p + n) : undefined);
      rmsnorm(gpu, rec, x, W.get(`${p}attn_norm.weight`), h, { eps });
      this.linear(rec, h, W.get(`${p}attn_q.weight`), q.view([T, nHead * headDim]), { bias: opt('attn_q.bias') });
      this.linear(rec, h, W.get(`${p}attn_k.weight`), k.view([T, nHeadKv * headDim]), { bias: opt('attn_k.bias') });
      this.linear(rec, h, W.get(`${p}attn_v.weight`), v.view([T, nHeadKv * headDim]), { bias: opt('attn_v.bias') });
      if (hp.arch.qkNorm) {
        rmsnorm(gpu, rec, q.view([T * nHead, headDim]), W.get(`${p}attn_q_norm.weight`), q.view([T * nHead, headDim]), { eps });
        rmsnorm(gpu, rec, k.view([T * nHeadKv, headDim]), W.get(`${p}attn_k_norm.weight`), k.view([T * nHeadKv, headDim]), { eps });
      }
      const ro = this.ropeOptions(l);
      rope(gpu, rec, q, pos, q, ro);
      // K is rotated straight into its cache slot; V is appended as is.
      rope(gpu, rec, k, pos, this.kCache[l], { ...ro, outOffset: pos0 * nHeadKv * headDim });
      writeKv(gpu, rec, v, this.vCache[l], { offsetTokens: pos0 });
      attention(gpu, rec, q, this.kCache[l], this.vCache[l], att, {
        kvLen: pos0 + T, pos0, causal, scale: hp.attnScale,
        slidingWindow: this.isSwaLayer(l) ? hp.slidingWindow : 0,
        softcap: hp.attnLogitSoftcap || undefined,
      });
      if (hp.arch.postNorms) {
        // x + post_norm(attn): x cannot be both input and output of add, so the sum lands in h, which
        // carries the residual through the FFN and hands it back to x at the end of the layer.
        this.linear(rec, att.view([T, nHead * headDim]), W.get(`${p}attn_output.weight`), tmp);
        rmsnorm(gpu, rec, tmp, W.get(`${p}post_attention_norm.weight`), tmp, { eps });
        add(gpu, rec, x, tmp, h);
        rmsnorm(gpu, rec, h, W.get(`${p}ffn_norm.weight`), tmp, { eps });
        this.ffn(rec, p, tmp, gate, up, act);
        this.linear(rec, act, W.get(`${p}ffn_down.weight`), tmp, { bias: opt('ffn_down.bias') });
        rmsnorm(gpu, rec, tmp, W.get(`${p}post_ffw_norm.weight`), tmp, { eps });
        add(gpu, rec, h, tmp, x);
      } else {
        this.linear(rec, att.view([T, nHead * headDim]), W.get(`${p}attn_output.weight`), x, { accumulate: true, bias: opt('attn_output.bias') });
        rmsnorm(gpu, rec, x, W.get(`${p}ffn_norm.weight`), h, { eps });
        this.ffn(rec, p, h, gate, up, act);
        this.linear(rec, act, W.get(`${p}ffn_down.weight`), x, { accumulate: true, bias: opt('ffn_down.bias') });
      }
    }

    // Only the last token's logits are needed to pick the next token.
    rec.copy({ buffer: x.buffer, offset: x.offset + (T - 1) * nEmbd * 4, size: nEmbd * 4 }, ws.last, nEmbd * 4);
    rmsnorm(gpu, rec, ws.last, W.get('output_norm.weight'), ws.last, { eps });
    const out = W.parts(W.has('output.weight') ? 'output.weight' : 'token_embd.weight');
    this.linear(rec, ws.last, out, ws.logits, { bias: W.has('output.bias') ? W.get('output.bias') : undefined });
    return ws.logits;
  }

  /** act = silu(gate) * up or gelu(gate) * up from the normed input h (phi3's fused [gate; up] weight is
   *  split into the two at load). llama.cpp's CPU GELU is an f16 table lookup; mirrored when rounding is. */
  private ffn(rec: Recorder, p: string, h: Tensor, gate: Tensor, up: Tensor, act: Tensor): void {
    const W = this.weights;
    const bias = (n: string) => (W.has(p + n) ? W.get(p + n) : undefined);
    const T = h.shape[0];
    const nFf = this.hp.nFf;
    const table = !!this.opts.llamaCppActivationRounding;
    if (W.has(`${p}ffn_gate_up.weight`)) {
      // One matmul into [T, gate | up], the gated activation reading the two halves of each row.
      const gu = this.ws.gate.view([T, 2 * nFf]);
      this.linear(rec, h, W.get(`${p}ffn_gate_up.weight`), gu);
      if (this.hp.arch.ffnAct === 'gelu') geglu(this.gpu, rec, gu, null, act, { llamaCppF16Table: table });
      else swiglu(this.gpu, rec, gu, null, act);
      return;
    }
    this.linear(rec, h, W.get(`${p}ffn_gate.weight`), gate, { bias: bias('ffn_gate.bias') });
    this.linear(rec, h, W.get(`${p}ffn_up.weight`), up, { bias: bias('ffn_up.bias') });
    if (this.hp.arch.ffnAct === 'gelu') geglu(this.gpu, rec, gate, up, act, { llamaCppF16Table: table });
    else swiglu(this.gpu, rec, gate, up, act);
  }

  dispose(): void {
    for (const t of [...this.kCache, ...this.vCache, ...Object.values(this.ws)]) t?.release();
    this.freqFactors?.release();
  }
}
