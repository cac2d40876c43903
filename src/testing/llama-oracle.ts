// llama.cpp as the ground truth for tests and benchmarks: tokenization, greedy decoding and logits,
// through node-llama-cpp's prebuilt CPU build. Node only.
//
// Configured for reproducible numbers: CPU backend only (`gpu: false`), one thread, flash attention off,
// F32 K and V caches, and never a build or a download (`build: 'never'`: the prebuilt binary from
// @node-llama-cpp/linux-x64 or an error). What remains approximate is llama.cpp's own arithmetic: its
// CPU path rounds activations to Q8_0 before Q8_0/Q4_0 matmuls and to F16 before F16 matmuls, ggml
// picks a CPU variant (AVX2, AVX-512, ...) at load time, and a batched prompt is computed with other
// kernels than one token at a time, so logits agree across those paths closely, not bit for bit
// (measured on stories260K with AVX2: F32 batched vs token by token within 1e-5, Q8_0 and Q4_0 identical).
//
// node-llama-cpp exposes logits per evaluated position (controlledEvaluate with generateNext.logits),
// as raw llama.cpp logits when the sampler is greedy, which is the only way this file samples.

import { getLlama, getModuleVersion, LlamaLogLevel, type ControlledEvaluateInputItem, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';

export interface OracleOptions {
  /** KV cache length in tokens; prompt plus generated tokens must fit. Default 512, capped at the model's training context. */
  contextSize?: number;
  /** Load the vocabulary only (tokenize/detokenize work; greedy and logits throw). Needed for vocab-only GGUFs. */
  vocabOnly?: boolean;
}

export interface TokenizeOptions {
  /** Prepend the BOS token (throws if the vocabulary has none). Default false. */
  addBos?: boolean;
  /** Parse special-token text such as "<s>" into special tokens. Default false (plain text). */
  special?: boolean;
}

export interface OracleTimings {
  /** Model (and context) load time, ms. */
  loadMs: number;
  /** The latest greedy/logits call: tokens fed to llama.cpp and wall time, ms. */
  lastEval: { tokens: number; ms: number } | null;
}

export interface OraclePenalties {
  repeat: number;
  frequency: number;
  presence: number;
  lastN: number;
}

export interface LlamaOracle {
  readonly path: string;
  /** "node-llama-cpp X, llama.cpp Y", for fixtures and reports. */
  readonly version: string;
  /** ggml's CPU feature line (AVX2, AVX512, ...): the CPU variant decides llama.cpp's exact rounding. */
  readonly systemInfo: string;
  readonly vocabSize: number;
  /** KV cache length llama.cpp allocated (it may round the requested size up); 0 when vocabOnly. */
  readonly contextSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  tokenize(text: string, opts?: TokenizeOptions): number[];
  /** Special tokens are dropped unless `special` is set. */
  detokenize(ids: readonly number[], opts?: { special?: boolean }): string;
  /** Argmax decoding from a fresh KV cache: up to nTokens new ids, stopping before an end-of-generation token. */
  greedy(promptIds: readonly number[], nTokens: number): Promise<number[]>;
  /**
   * greedy() through llama.cpp's penalties sampler (llama_sampler_init_penalties, before the argmax),
   * fed at each step the last `lastN` tokens of prompt and output, as llama.cpp's server accepts them.
   */
  greedyPenalized(promptIds: readonly number[], nTokens: number, p: OraclePenalties): Promise<number[]>;
  /**
   * Raw logits for every position of the prompt (row i predicts token i + 1) from a fresh KV cache,
   * evaluated as one batch (llama.cpp's prefill path) or, with `oneAtATime`, token by token (its decode path).
   */
  logits(promptIds: readonly number[], opts?: { oneAtATime?: boolean }): Promise<Float32Array[]>;
  readonly timings: OracleTimings;
  /** Disposes the context and model; the shared llama.cpp instance goes when the last oracle closes. Idempotent. */
  close(): Promise<void>;
}

// One llama.cpp instance per process, shared by open oracles: getLlama test-loads the binary in a child
// process first, which takes 1-6 s here.
let shared: { llama: Promise<Llama>; users: number } | null = null;
// llama.cpp's warnings and errors, kept out of the console (the latest 500, numbered).
const llamaLog: { seq: number; line: string }[] = [];
let logSeq = 0;

/** llama.cpp's recent warnings and errors (they never reach the console). */
export function oracleLog(): string[] {
  return llamaLog.map((l) => l.line);
}

async function acquireLlama(): Promise<Llama> {
  shared ??= {
    users: 0,
    llama: getLlama({
      gpu: false,
      build: 'never',
      usePrebuiltBinaries: true,
      skipDownload: true,
      progressLogs: false,
      maxThreads: 1,
      logLevel: LlamaLogLevel.warn,
      logger: (level, message) => {
        llamaLog.push({ seq: ++logSeq, line: `${level}: ${message.trimEnd()}` });
        if (llamaLog.length > 500) llamaLog.shift();
      },
    }),
  };
  const mine = shared;
  mine.users++;
  try {
    return await mine.llama;
  } catch (e) {
    if (shared === mine) shared = null;
    throw new Error(`llama oracle: no usable llama.cpp binary for ${process.platform}-${process.arch}: ${(e as Error).message}`, { cause: e });
  }
}

async function releaseLlama(): Promise<void> {
  if (!shared || --shared.users > 0) return;
  const { llama } = shared;
  shared = null;
  await (await llama).dispose();
}

export async function openOracle(ggufPath: string, opts: OracleOptions = {}): Promise<LlamaOracle> {
  const t0 = performance.now();
  const llama = await acquireLlama();
  const logStart = logSeq;
  let model: LlamaModel | null = null;
  let context: LlamaContext | null = null;
  try {
    model = await llama.loadModel({ modelPath: ggufPath, vocabOnly: opts.vocabOnly ?? false, gpuLayers: 0 });
    if (!opts.vocabOnly) {
      context = await model.createContext({
        contextSize: Math.min(opts.contextSize ?? 512, model.trainContextSize),
        sequences: 1,
        threads: 1,
        flashAttention: false,
        experimentalKvCacheKeyType: 'F32',
        experimentalKvCacheValueType: 'F32',
      });
    }
  } catch (e) {
    await context?.dispose();
    await model?.dispose();
    await releaseLlama();
    // llama.cpp says why through its logger, not the exception ("missing tensor ...").
    const why = llamaLog.filter((l) => l.seq > logStart && l.line.startsWith('error')).map((l) => l.line).join('; ');
    throw new Error(`llama oracle: cannot load ${ggufPath}: ${(e as Error).message}${why ? ` (${why})` : ''}`, { cause: e });
  }
  const version = `node-llama-cpp ${await getModuleVersion()}, llama.cpp ${llama.llamaCppRelease.release}`;
  return new Oracle(ggufPath, version, llama.systemInfo, model, context, performance.now() - t0);
}

class Oracle implements LlamaOracle {
  readonly timings: OracleTimings;
  private readonly sequence: LlamaContextSequence | null;
  private closed = false;

  constructor(
    readonly path: string,
    readonly version: string,
    readonly systemInfo: string,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext | null,
    loadMs: number,
  ) {
    this.timings = { loadMs, lastEval: null };
    this.sequence = context?.getSequence() ?? null;
  }

  get vocabSize(): number {
    return this.model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 0;
  }
  get contextSize(): number {
    return this.context?.contextSize ?? 0;
  }
  get bos(): number | null {
    return this.model.tokens.bos;
  }
  get eos(): number | null {
    return this.model.tokens.eos;
  }

  tokenize(text: string, opts: TokenizeOptions = {}): number[] {
    this.ensureOpen();
    const ids = [...this.model.tokenize(text, opts.special ?? false)];
    if (!opts.addBos) return ids;
    if (this.bos === null) throw new Error(`llama oracle: ${this.path} has no BOS token`);
    return [this.bos, ...ids];
  }

  detokenize(ids: readonly number[], opts: { special?: boolean } = {}): string {
    this.ensureOpen();
    return this.model.detokenize(ids as readonly Token[], opts.special ?? false);
  }

  greedy(promptIds: readonly number[], nTokens: number): Promise<number[]> {
    return this.greedyWith('greedy', promptIds, nTokens, null);
  }

  greedyPenalized(promptIds: readonly number[], nTokens: number, p: OraclePenalties): Promise<number[]> {
    return this.greedyWith('greedyPenalized', promptIds, nTokens, p);
  }

  private async greedyWith(op: string, promptIds: readonly number[], nTokens: number, p: OraclePenalties | null): Promise<number[]> {
    const seq = await this.freshSequence(op, promptIds, nTokens);
    const t0 = performance.now();
    const out: number[] = [];
    const ids = promptIds as readonly Token[];
    const generate = (): Exclude<ControlledEvaluateInputItem, Token>[1] => {
      if (!p) return { generateNext: { token: true, options: { temperature: 0 } } };
      const punishTokens = [...ids, ...(out as Token[])].slice(-p.lastN);
      return { generateNext: { token: true, options: { temperature: 0, repeatPenalty: { punishTokens, maxPunishTokens: p.lastN, penalty: p.repeat, frequencyPenalty: p.frequency, presencePenalty: p.presence } } } };
    };
    let input: ControlledEvaluateInputItem[] = [...ids.slice(0, -1), [ids[ids.length - 1], generate()]];
    while (out.length < nTokens) {
      const results = await seq.controlledEvaluate(input);
      const next = results[input.length - 1]?.next.token;
      if (next == null) throw new Error(`llama oracle: ${op}: llama.cpp returned no token`);
      if (this.model.isEogToken(next)) break;
      out.push(next);
      input = [[next, generate()]];
    }
    this.timings.lastEval = { tokens: promptIds.length + out.length, ms: performance.now() - t0 };
    return out;
  }

  async logits(promptIds: readonly number[], opts: { oneAtATime?: boolean } = {}): Promise<Float32Array[]> {
    const seq = await this.freshSequence('logits', promptIds, 0);
    const t0 = performance.now();
    const input = promptIds.map((id): ControlledEvaluateInputItem => [id as Token, { generateNext: { logits: true } }]);
    const results = opts.oneAtATime ? [] : await seq.controlledEvaluate(input);
    if (opts.oneAtATime) for (const item of input) results.push((await seq.controlledEvaluate([item]))[0]);
    const n = this.vocabSize;
    const rows = promptIds.map((_, i) => {
      const logits = results[i]?.next.logits;
      if (!logits || logits.size !== n) throw new Error(`llama oracle: logits: position ${i} returned ${logits?.size ?? 0} of ${n} logits`);
      const row = new Float32Array(n);
      for (const [id, v] of logits) row[id] = v;
      return row;
    });
    this.timings.lastEval = { tokens: promptIds.length, ms: performance.now() - t0 };
    return rows;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.context?.dispose();
    await this.model.dispose();
    await releaseLlama();
  }

  private ensureOpen(): void {
    if (this.closed) throw new Error(`llama oracle: ${this.path} is closed`);
  }

  private async freshSequence(op: string, promptIds: readonly number[], nNew: number): Promise<LlamaContextSequence> {
    this.ensureOpen();
    if (!this.sequence || !this.context) throw new Error(`llama oracle: ${op}: ${this.path} was opened vocabOnly`);
    if (promptIds.length === 0) throw new Error(`llama oracle: ${op}: empty prompt`);
    if (promptIds.length + nNew > this.context.contextSize) {
      throw new Error(`llama oracle: ${op}: ${promptIds.length} prompt + ${nNew} new tokens exceed contextSize ${this.context.contextSize}`);
    }
    const bad = promptIds.find((id) => !Number.isInteger(id) || id < 0 || id >= this.vocabSize);
    if (bad !== undefined) throw new Error(`llama oracle: ${op}: token id ${bad} outside vocabulary of ${this.vocabSize}`);
    await this.sequence.clearHistory();
    return this.sequence;
  }
}
