// The peer column of the benchmark page: wllama (llama.cpp compiled to WebAssembly) on the same GGUF, in
// the same page, given the same prompt ids and asked for the same number of tokens as edgewise.
//
// wllama 3 runs llama.cpp's server loop in a worker. Its completion call takes the prompt as text only,
// so the page builds a text of exactly the asked token count (src/bench/prompt.ts) and checks here that
// llama.cpp counted that many. Greedy, end-of-generation ignored so every run generates exactly the
// asked count, prompt caching off so each repetition prefills from an empty cache. The speeds are
// llama.cpp's own timings: prompt_ms covers the prompt's forward pass, predicted_ms runs from the first
// generated token to the last, i.e. predicted_n - 1 decode steps — counted that way here so the decode
// rate means what edgewise's does (decode steps over their time).

import { Wllama } from '@wllama/wllama/esm/index.js';
import wllamaWasmUrl from '@wllama/wllama/esm/wasm/wllama.wasm?url';
import wllamaPackage from '@wllama/wllama/package.json';
import { summarize, type Summary } from './measure.ts';

export interface WllamaRun {
  /** Wall clock from the request to its first streamed token. */
  ttftMs: number;
  promptMs: number;
  promptTokens: number;
  predictedMs: number;
  predictedTokens: number;
}

export interface WllamaBench {
  engine: string;
  threads: number;
  multiThread: boolean;
  loadMs: number;
  runs: WllamaRun[];
  prefillTokensPerS: Summary;
  decodeTokensPerS: Summary;
  ttftMs: Summary;
}

export interface WllamaBenchOptions {
  /** Text that llama.cpp's tokenizer (BOS added) makes `promptTokens` tokens of. */
  promptText: string;
  promptTokens: number;
  genTokens: number;
  reps: number;
  threads: number;
  onProgress?: (message: string) => void;
}

interface Timings {
  prompt_n: number;
  prompt_ms: number;
  predicted_n: number;
  predicted_ms: number;
}

const quiet = { debug: () => {}, log: () => {}, warn: () => {}, error: (...a: unknown[]) => console.warn('wllama:', ...a) };

export async function benchWllama(model: Blob, o: WllamaBenchOptions): Promise<WllamaBench> {
  const say = o.onProgress ?? (() => {});
  const t0 = performance.now();
  // The wasm this package ships; setCompat(null): no fallback build fetched from a CDN.
  const w = new Wllama({ default: wllamaWasmUrl }, { suppressNativeLog: true, logger: quiet as unknown as Console });
  w.setCompat(null);
  try {
    await w.loadModel([model], {
      n_threads: o.threads,
      // Its WebGPU path needs shader-f16; the comparison is with llama.cpp on the CPU cores of this machine.
      n_gpu_layers: 0,
      n_ctx: o.promptTokens + o.genTokens + 16,
      n_batch: Math.max(1, Math.min(512, o.promptTokens)),
      n_parallel: 1,
      seed: 1,
    });
    const loadMs = performance.now() - t0;
    say(`wllama: loaded in ${loadMs.toFixed(0)} ms, ${w.isMultithread() ? `${w.getNumThreads()} threads` : 'single-threaded'}`);
    const runs: WllamaRun[] = [];
    for (let r = 0; r <= o.reps; r++) { // run 0 is the warm-up
      let timings: Timings | null = null;
      let first = NaN;
      const start = performance.now();
      // cache_prompt is llama.cpp server's own field (wllama's types leave it out): no reuse between runs.
      const request = {
        prompt: o.promptText,
        max_tokens: o.genTokens,
        temp: 0,
        ignore_eos: true,
        cache_prompt: false,
        stream: true as const,
        onData: (chunk: { timings?: Timings }) => {
          if (Number.isNaN(first)) first = performance.now() - start;
          if (chunk.timings) timings = chunk.timings;
        },
      };
      await w.createCompletion(request);
      const t = timings as Timings | null;
      if (!t) throw new Error('wllama: the completion reported no timings');
      if (t.prompt_n !== o.promptTokens || t.predicted_n !== o.genTokens) {
        throw new Error(`wllama: asked for a ${o.promptTokens}-token prompt and ${o.genTokens} tokens, it ran ${t.prompt_n} and ${t.predicted_n}`);
      }
      say(`wllama ${r === 0 ? 'warm-up' : `run ${r} of ${o.reps}`}: prompt ${t.prompt_ms.toFixed(0)} ms, ${t.predicted_n} tokens in ${t.predicted_ms.toFixed(0)} ms`);
      if (r > 0) runs.push({ ttftMs: first, promptMs: t.prompt_ms, promptTokens: t.prompt_n, predictedMs: t.predicted_ms, predictedTokens: t.predicted_n });
    }
    return {
      engine: `wllama ${wllamaPackage.version} (llama.cpp ${Wllama.getLibllamaVersion()}, WebAssembly, CPU)`,
      threads: w.getNumThreads(),
      multiThread: w.isMultithread(),
      loadMs,
      runs,
      prefillTokensPerS: summarize(runs.map((x) => x.promptTokens / (x.promptMs / 1e3))),
      decodeTokensPerS: summarize(runs.filter((x) => x.predictedTokens > 1).map((x) => (x.predictedTokens - 1) / (x.predictedMs / 1e3))),
      ttftMs: summarize(runs.map((x) => x.ttftMs)),
    };
  } finally {
    await w.exit().catch(() => {});
  }
}
