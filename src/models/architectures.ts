// Each supported architecture is a short declarative description over the shared transformer block in
// llm.ts: which norm, which activation, which rope layout, which optional tensors. Adding one is adding
// an entry here (and a fixture in the tests), not forking the runner. Every entry mirrors llama.cpp's
// src/models/<arch>.cpp (checked against it on random-weight models in architectures.test.ts).
//
// What every architecture shares, as llama.cpp's loader does: q/k/v may come as one fused attn_qkv
// [q; k; v] (phi3's converter writes that) or as three tensors, each with an optional bias (qwen2's
// converter writes them); output.weight is optional (tied embeddings: the logits reuse token_embd).

export interface ArchSpec {
  /** GGUF `general.architecture`. */
  name: string;
  /** 'norm': adjacent pairs (llama.cpp LLAMA_ROPE_TYPE_NORM); 'neox': split halves. */
  rope: 'norm' | 'neox';
  /** Gated FFN activation: silu(gate) * up or gelu_tanh(gate) * up. */
  ffnAct: 'silu' | 'gelu';
  /** Per-head RMSNorm of q and k before rope (qwen3, gemma3). */
  qkNorm: boolean;
  /** RMSNorm on the attention and FFN outputs before the residual add (gemma3). */
  postNorms: boolean;
  /** ffn_up holds [gate; up] (2 * n_ff rows) and there is no ffn_gate (phi3). */
  fusedGateUp: boolean;
  /** Embeddings scaled by sqrt(n_embd) (gemma). */
  embedScale: boolean;
  /** Sliding-window attention when the GGUF sets attention.sliding_window > 0: the layer pattern unless
   *  attention.sliding_window_pattern overrides it (n: layer il is local iff il % n < n - 1), and the
   *  rope base of local layers unless rope.freq_base_swa overrides it. Local layers never rope-scale. */
  swa?: { pattern: number; ropeBase: number };
  /** q·k scale when it is not 1/sqrt(head dim). */
  attentionScale?: (hp: { nLayer: number; nEmbd: number; nHead: number; headDim: number }) => number;
  /** Reads <arch>.final_logit_softcapping (gemma3). */
  finalLogitSoftcap: boolean;
  /** Optional tensors beyond the shared ones above, as llama.cpp loads them (TENSOR_NOT_REQUIRED). */
  optional: { model: readonly string[]; layer: readonly string[] };
}

const base: Omit<ArchSpec, 'name'> = {
  rope: 'norm', ffnAct: 'silu', qkNorm: false, postNorms: false, fusedGateUp: false, embedScale: false,
  finalLogitSoftcap: false, optional: { model: [], layer: [] },
};

export const ARCHITECTURES: Record<string, ArchSpec> = {
  llama: {
    ...base, name: 'llama',
    // rope_freqs: Llama 3.1+ frequency divisors, written by the converter instead of a scaling type.
    optional: { model: ['rope_freqs.weight'], layer: ['attn_output.bias', 'ffn_gate.bias', 'ffn_up.bias', 'ffn_down.bias'] },
  },
  qwen2: { ...base, name: 'qwen2', rope: 'neox', optional: { model: ['output.bias'], layer: [] } },
  qwen3: { ...base, name: 'qwen3', rope: 'neox', qkNorm: true },
  gemma3: {
    ...base, name: 'gemma3', rope: 'neox', ffnAct: 'gelu', qkNorm: true, postNorms: true, embedScale: true,
    swa: { pattern: 6, ropeBase: 10000 },
    // llama.cpp ignores query_pre_attn_scalar: 1/sqrt(head dim), except for the 27B (told apart by its
    // 62 layers), which uses 1/sqrt(n_embd / n_head).
    attentionScale: (hp) => 1 / Math.sqrt(hp.nLayer === 62 ? hp.nEmbd / hp.nHead : hp.headDim),
    finalLogitSoftcap: true,
  },
  phi3: { ...base, name: 'phi3', rope: 'neox', fusedGateUp: true },
};
