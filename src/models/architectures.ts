// Each supported architecture is a short declarative description over the shared transformer block in
// llm.ts: which norm, which activation, which rope layout, which optional tensors. Adding one is adding
// an entry here (and a fixture in the tests), not forking the runner.

export interface ArchSpec {
  /** GGUF `general.architecture`. */
  name: string;
  /** 'norm': adjacent pairs (llama.cpp LLAMA_ROPE_TYPE_NORM); 'neox': split halves. */
  rope: 'norm' | 'neox';
  /** Gated FFN activation: silu(gate) * up or gelu_tanh(gate) * up. */
  ffnAct: 'silu' | 'gelu';
  /** q/k/v projections may carry biases (qwen2). */
  qkvBias: boolean;
  /** Per-head RMSNorm of q and k before rope (qwen3, gemma3). */
  qkNorm: boolean;
  /** RMSNorm on the attention and FFN outputs before the residual add (gemma3). */
  postNorms: boolean;
  /** One fused [q; k; v] weight (phi3: attn_qkv). */
  fusedQkv: boolean;
  /** One fused [gate; up] weight (phi3: ffn_up holds both). */
  fusedGateUp: boolean;
  /** Embeddings scaled by sqrt(n_embd) (gemma). */
  embedScale: boolean;
  /** Sliding-window layers: gemma3 uses the window on 5 of every 6 layers. */
  swaPattern?: number;
  /** Rope base for sliding-window layers when it differs (gemma3: 10000). */
  ropeBaseSwa?: number;
}

const base: Omit<ArchSpec, 'name'> = {
  rope: 'norm', ffnAct: 'silu', qkvBias: false, qkNorm: false, postNorms: false,
  fusedQkv: false, fusedGateUp: false, embedScale: false,
};

export const ARCHITECTURES: Record<string, ArchSpec> = {
  llama: { ...base, name: 'llama' },
  qwen2: { ...base, name: 'qwen2', rope: 'neox', qkvBias: true },
  qwen3: { ...base, name: 'qwen3', rope: 'neox', qkNorm: true },
  gemma3: { ...base, name: 'gemma3', rope: 'neox', ffnAct: 'gelu', qkNorm: true, postNorms: true, embedScale: true, swaPattern: 6, ropeBaseSwa: 10000 },
  phi3: { ...base, name: 'phi3', rope: 'neox', fusedQkv: true, fusedGateUp: true },
};
