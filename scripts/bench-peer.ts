// The peer column of the benchmark: llama.cpp (node-llama-cpp's prebuilt CPU build) on the same GGUF,
// the same prompt ids and the same number of generated tokens, timed the way the edgewise side is.
// Unlike the test oracle (one thread, F32 KV cache, for reproducible logits) this runs llama.cpp as a
// user would: its default KV cache type and attention path, with every core this process may use.

import { getLlama, getModuleVersion, LlamaLogLevel, type ControlledEvaluateInputItem, type Llama, type LlamaContext, type LlamaModel, type Token } from 'node-llama-cpp';
import { median } from './bench-rates.ts';

export interface PeerOptions {
  promptIds: readonly number[];
  /** Tokens to generate: the first comes from the prompt's forward, the rest are decode steps. */
  genTokens: number;
  reps: number;
}

export interface PeerResult {
  engine: string;
  /** ggml's CPU feature line (AVX2, AVX512, ...). */
  system: string;
  threads: number;
  loadMs: number;
  ttftMs: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  /** Per measured run (the warm-up excluded). */
  prefillRuns: number[];
  decodeRuns: number[];
}

/** One llama.cpp instance for the whole benchmark (getLlama test-loads the binary, 1-6 s here). */
export class Peer {
  private constructor(private readonly llama: Llama, readonly threads: number, readonly engine: string, private readonly warnings: string[]) {}

  static async open(threads: number): Promise<Peer> {
    const warnings: string[] = [];
    const llama = await getLlama({
      gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, progressLogs: false,
      maxThreads: threads, logLevel: LlamaLogLevel.warn,
      logger: (level, message) => {
        warnings.push(`${level}: ${message.trimEnd()}`);
        if (warnings.length > 50) warnings.shift();
      },
    });
    return new Peer(llama, threads, `node-llama-cpp ${await getModuleVersion()}, llama.cpp ${llama.llamaCppRelease.release} (CPU)`, warnings);
  }

  /** ggml's CPU feature line (AVX2, AVX512, ...). */
  get system(): string {
    return this.llama.systemInfo;
  }

  async run(path: string, o: PeerOptions): Promise<PeerResult> {
    const t0 = performance.now();
    const seen = this.warnings.length;
    let model: LlamaModel | null = null;
    let context: LlamaContext | null = null;
    try {
      model = await this.llama.loadModel({ modelPath: path, gpuLayers: 0 });
      context = await model.createContext({
        contextSize: o.promptIds.length + o.genTokens + 8, sequences: 1, threads: this.threads,
        batchSize: Math.max(1, Math.min(512, o.promptIds.length)),
      });
      const loadMs = performance.now() - t0;
      const seq = context.getSequence();
      const generate = { generateNext: { token: true, options: { temperature: 0 } } } as const;
      const ids = o.promptIds as readonly Token[];
      const prompt: ControlledEvaluateInputItem[] = [...ids.slice(0, -1), [ids[ids.length - 1], generate]];
      const runs: { ttft: number; decodeMs: number; steps: number }[] = [];
      for (let r = 0; r <= o.reps; r++) { // run 0 is the warm-up
        await seq.clearHistory();
        const start = performance.now();
        let tok = (await seq.controlledEvaluate(prompt))[prompt.length - 1]?.next.token;
        const ttft = performance.now() - start;
        const tDecode = performance.now();
        let steps = 0;
        for (; steps < o.genTokens - 1; steps++) {
          if (tok == null) throw new Error(`llama.cpp returned no token at step ${steps}`);
          tok = (await seq.controlledEvaluate([[tok, generate]]))[0]?.next.token;
        }
        if (r > 0) runs.push({ ttft, decodeMs: performance.now() - tDecode, steps });
      }
      const prefillRuns = runs.map((x) => o.promptIds.length / (x.ttft / 1e3));
      const decodeRuns = runs.map((x) => (x.steps > 0 ? x.steps / (x.decodeMs / 1e3) : NaN));
      return {
        engine: this.engine, system: this.system, threads: this.threads, loadMs,
        ttftMs: median(runs.map((x) => x.ttft)),
        prefillTokensPerS: median(prefillRuns), decodeTokensPerS: median(decodeRuns), prefillRuns, decodeRuns,
      };
    } catch (e) {
      const why = this.warnings.slice(seen).filter((l) => l.startsWith('error')).slice(-3).join('; ');
      throw new Error(`peer: llama.cpp on ${path}: ${(e as Error).message}${why ? ` (${why})` : ''}`, { cause: e });
    } finally {
      await context?.dispose();
      await model?.dispose();
    }
  }

  async close(): Promise<void> {
    await this.llama.dispose();
  }
}
