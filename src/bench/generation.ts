// The edgewise side of a benchmark run on a loaded model: a warm-up, then repetitions, each generating
// from an empty KV cache with the same prompt ids (greedy, no stop tokens, so every run does the same
// work); then, where the device has timestamp queries, one profiled prefill and one profiled run of
// decode steps for the per-kernel GPU time split.

import type { Gpu } from '../gpu/gpu.ts';
import type { KernelTime } from '../gpu/profiler.ts';
import type { LanguageModel } from '../models/llm.ts';
import { Generator } from '../runtime/generate.ts';
import { summarize, type Summary } from './measure.ts';

export interface GenerationBenchOptions {
  /** Tokens to generate: the first comes from the prompt's forward pass, the rest are decode steps. */
  genTokens: number;
  /** Measured repetitions after the warm-up. */
  reps: number;
  /** Decode steps in the profiled run (default: genTokens - 1, at most 16). */
  profileSteps?: number;
  profile?: boolean;
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
}

export interface GenerationRun {
  ttftMs: number;
  prefillMs: number;
  decodeMs: number;
  decodeSteps: number;
}

export interface KernelSplit {
  /** GPU time of one prefill of the whole prompt, by kernel label. */
  prefill: KernelTime[];
  /** GPU time of `decodeForwards` one-token forward passes, by kernel label. */
  decode: KernelTime[];
  decodeForwards: number;
}

export interface GenerationBench {
  promptTokens: number;
  runs: GenerationRun[];
  prefillTokensPerS: Summary;
  decodeTokensPerS: Summary;
  ttftMs: Summary;
  /** The first tokens of the last run (the same in every run: greedy). */
  firstTokens: number[];
  /** Dispatches and queue submissions per decoded token over the last run's decode steps. */
  perToken: { dispatches: number; submits: number };
  kernels: KernelSplit | null;
}

export class BenchAbortedError extends Error {
  override name = 'BenchAbortedError';
  constructor() {
    super('the benchmark was stopped');
  }
}

export async function benchGeneration(gpu: Gpu, model: LanguageModel, promptIds: readonly number[], o: GenerationBenchOptions): Promise<GenerationBench> {
  if (o.genTokens < 2) throw new RangeError(`genTokens must be at least 2 (one decode step), got ${o.genTokens}`);
  const say = o.onProgress ?? (() => {});
  const stopIfAborted = () => { if (o.signal?.aborted) throw new BenchAbortedError(); };
  const runs: GenerationRun[] = [];
  let firstTokens: number[] = [];
  let perToken = { dispatches: NaN, submits: NaN };
  for (let r = 0; r <= o.reps; r++) {
    stopIfAborted();
    const g = new Generator(gpu, model);
    try {
      let atFirstToken: { dispatches: number; submits: number } | null = null;
      const res = await g.generate(promptIds, {
        maxTokens: o.genTokens,
        signal: o.signal,
        onToken: () => { atFirstToken ??= { dispatches: gpu.counters.dispatches, submits: gpu.counters.submits }; },
      });
      stopIfAborted();
      const run = { ttftMs: res.ttftMs, prefillMs: res.prefillMs, decodeMs: res.decodeMs, decodeSteps: res.decodeSteps };
      say(`${r === 0 ? 'warm-up' : `run ${r} of ${o.reps}`}: first token after ${run.ttftMs.toFixed(0)} ms, ${run.decodeSteps} decode steps in ${run.decodeMs.toFixed(0)} ms`);
      if (r === 0) continue;
      runs.push(run);
      firstTokens = res.tokens.slice(0, 8);
      const first = atFirstToken as { dispatches: number; submits: number } | null;
      if (first && res.decodeSteps > 0) {
        perToken = {
          dispatches: (gpu.counters.dispatches - first.dispatches) / res.decodeSteps,
          submits: (gpu.counters.submits - first.submits) / res.decodeSteps,
        };
      }
    } finally {
      g.dispose();
    }
  }
  await gpu.sync();
  const P = promptIds.length;
  let kernels: KernelSplit | null = null;
  if (o.profile !== false && gpu.profiler.supported) {
    stopIfAborted();
    say('profiling: one prefill and a run of decode steps with a timestamp around every dispatch');
    const g = new Generator(gpu, model);
    gpu.profiler.enable(true);
    try {
      await g.generate(promptIds, { maxTokens: 1 });
      const prefill = await gpu.profiler.collect();
      // The same prompt again: its prefix is cached, so the last prompt token runs as a one-token forward,
      // followed by decode steps — every forward in this call is a decode-shaped one.
      const steps = Math.max(1, Math.min(o.profileSteps ?? 16, o.genTokens - 1));
      const res = await g.generate(promptIds, { maxTokens: steps + 1 });
      const decode = await gpu.profiler.collect();
      kernels = { prefill, decode, decodeForwards: res.decodeSteps + 1 };
    } finally {
      gpu.profiler.enable(false);
      g.dispose();
    }
  }
  return {
    promptTokens: P,
    runs,
    prefillTokensPerS: summarize(runs.map((x) => P / (x.prefillMs / 1e3))),
    decodeTokensPerS: summarize(runs.filter((x) => x.decodeSteps > 0).map((x) => x.decodeSteps / (x.decodeMs / 1e3))),
    ttftMs: summarize(runs.map((x) => x.ttftMs)),
    firstTokens,
    perToken,
    kernels,
  };
}
