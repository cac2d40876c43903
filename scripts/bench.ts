// The language-model benchmark: for each model, edgewise on WebGPU (Dawn in Node) and llama.cpp on the
// CPU (node-llama-cpp) generate from the same file, the same prompt ids and the same token counts in
// one run. Per model it prints prefill and decode tokens/s, time to first token, the weight bytes a
// decoded token must read and the GB/s that makes, as a fraction of a copy bandwidth measured in this
// run, prefill FLOP/s as a fraction of a matmul rate measured in this run, dispatches / submits /
// buffer and bind-group creations per decoded token, the per-kernel GPU time split (timestamp queries),
// and edgewise/llama.cpp ratios. A benchmark, not a test: it prints numbers.
//
//   npm run bench [-- --models stories260K,llama-3.2-1b,qwen2.5-1.5b,llama-3.2-3b,llama-3.1-8b|all]
//                 [-- --quant F32,Q8_0,Q4_0,Q4_K] [-- --prompt N] [-- --gen N] [-- --reps N]
//                 [-- --json] [-- --no-peer] [-- --peer-threads N] [-- --no-profile] [-- --tmp DIR]
//
// Models: stories260K (the trained F32 / Q8_0 / Q4_0 files in ../shared/models) and random-weight GGUFs
// with the tensor shapes of Llama-3.2-1B, Qwen2.5-1.5B, Llama-3.2-3B and Llama-3.1-8B in Q4_0, Q4_K or
// Q8_0 (every matrix in that type), streamed to a temporary file and deleted after use. A shape whose
// file, GPU footprint or largest tensor does not fit this machine or device is skipped, with the reason.

import { existsSync } from 'node:fs';
import { rm, stat, statfs } from 'node:fs/promises';
import { availableParallelism, freemem, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Gpu as GpuT } from '../src/gpu/gpu.ts';
import type { PeerResult } from './bench-peer.ts';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER)) process.env.VK_ICD_FILENAMES = SWIFTSHADER;
process.env.NODEVICE_SELECT ??= '1';

// After the environment: Dawn reads VK_ICD_FILENAMES when it loads.
const { Gpu } = await import('../src/gpu/gpu.ts');
const { openGgufPath } = await import('../src/formats/gguf-node.ts');
const { ggufHeader } = await import('../src/formats/gguf-writer.ts');
const { loadLanguageModel } = await import('../src/models/load.ts');
const { Generator } = await import('../src/runtime/generate.ts');
const { randomModelPlan } = await import('../src/testing/random-model.ts');
const { writeRandomModelFile } = await import('../src/testing/random-model-file.ts');
const { Rng } = await import('../src/testing/rng.ts');
const { copyBandwidth, matmulCeiling, median } = await import('./bench-rates.ts');
const { Peer } = await import('./bench-peer.ts');

type GgufT = Awaited<ReturnType<typeof openGgufPath>>;
type RandomModelOptions = Parameters<typeof randomModelPlan>[0];
type KernelTime = { label: string; count: number; totalMs: number };

// ---------------------------------------------------------------- models

interface Shape {
  label: string;
  opts: Omit<RandomModelOptions, 'weightType' | 'seed'>;
}

const llama3Rope = (factor: number) => ({ type: 'llama3' as const, factor, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 });

/** The published configurations (config.json of each model); every matrix in the chosen type. */
const SHAPES: Record<string, Shape> = {
  'llama-3.2-1b': { label: 'Llama-3.2-1B', opts: { arch: 'llama', nEmbd: 2048, nLayer: 16, nHead: 32, nHeadKv: 8, nFf: 8192, vocab: 128256, ctx: 131072, tied: true, ropeBase: 500000, ropeScaling: llama3Rope(32), rmsEps: 1e-5 } },
  'qwen2.5-1.5b': { label: 'Qwen2.5-1.5B', opts: { arch: 'qwen2', nEmbd: 1536, nLayer: 28, nHead: 12, nHeadKv: 2, nFf: 8960, vocab: 151936, ctx: 32768, tied: true, ropeBase: 1e6, rmsEps: 1e-6 } },
  'llama-3.2-3b': { label: 'Llama-3.2-3B', opts: { arch: 'llama', nEmbd: 3072, nLayer: 28, nHead: 24, nHeadKv: 8, nFf: 8192, vocab: 128256, ctx: 131072, tied: true, ropeBase: 500000, ropeScaling: llama3Rope(32), rmsEps: 1e-5 } },
  'llama-3.1-8b': { label: 'Llama-3.1-8B', opts: { arch: 'llama', nEmbd: 4096, nLayer: 32, nHead: 32, nHeadKv: 8, nFf: 14336, vocab: 128256, ctx: 131072, tied: false, ropeBase: 500000, ropeScaling: llama3Rope(8), rmsEps: 1e-5 } },
};
const STORIES_FILES: Record<string, string> = { F32: 'stories260K.gguf', Q8_0: 'stories260K-q8_0.gguf', Q4_0: 'stories260K-q4_0.gguf' };
const SHAPE_QUANTS = ['Q4_0', 'Q4_K', 'Q8_0'];
const MODELS_DIR = join(import.meta.dirname, '../../shared/models');

/**
 * Defaults sized for the loaded 2-core machine this was built on, running SwiftShader: the default run
 * (stories260K in three types, with the peer) takes under ten minutes there even at a load average of
 * 25, when a two-thread llama.cpp decodes stories260K at under one token/s. A 1B shape in Q4_0 takes
 * 5 minutes per prefill of 4 tokens and 40 s per decoded token there, so the shapes are opt-in, with
 * counts that keep one shape near ten minutes, and a short warm-up (a one-token prompt, one decode step:
 * every decode pipeline compiled) instead of a full-length one.
 */
const DEFAULTS = {
  models: ['stories260K'],
  small: { prompt: 32, gen: 16, reps: 3, profileTokens: 15, fullWarmup: true },
  shape: { prompt: 4, gen: 3, reps: 1, profileTokens: 1, fullWarmup: false },
};
/** The prefill split costs one more prefill: taken only when a prefill is shorter than this. */
const PREFILL_SPLIT_MAX_MS = 30_000;

interface Job {
  name: string;
  quant: string;
  /** A file in ../shared/models, or a shape to write. */
  file?: string;
  shape?: Shape;
}

// ---------------------------------------------------------------- arguments

class UsageError extends Error {}

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv, strict: true, allowPositionals: false,
    options: {
      models: { type: 'string' }, quant: { type: 'string' }, prompt: { type: 'string' }, gen: { type: 'string' },
      reps: { type: 'string' }, json: { type: 'boolean' }, 'no-peer': { type: 'boolean' }, 'no-profile': { type: 'boolean' },
      'peer-threads': { type: 'string' },
      tmp: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  const int = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) throw new UsageError(`--${name} ${v}: expected an integer >= ${min}`);
    return x;
  };
  const known = ['stories260K', ...Object.keys(SHAPES)];
  const models = values.models === 'all' ? known : (values.models?.split(',').map((s) => s.trim()) ?? DEFAULTS.models);
  for (const m of models) if (!known.includes(m)) throw new UsageError(`--models: unknown model ${m} (known: ${known.join(', ')}, all)`);
  const quants = values.quant?.split(',').map((s) => s.trim().toUpperCase());
  for (const q of quants ?? []) if (!STORIES_FILES[q] && !SHAPE_QUANTS.includes(q)) throw new UsageError(`--quant: unknown type ${q} (F32, Q8_0, Q4_0, Q4_K)`);
  return {
    help: values.help ?? false, models, quants, json: values.json ?? false, peer: !values['no-peer'], profile: !values['no-profile'],
    prompt: int('prompt', values.prompt, 1), gen: int('gen', values.gen, 2), reps: int('reps', values.reps, 1),
    peerThreads: int('peer-threads', values['peer-threads'], 1) ?? availableParallelism(),
    tmp: values.tmp ?? tmpdir(), explicitModels: values.models !== undefined,
  };
}

type Args = ReturnType<typeof parse>;

function jobs(a: Args): { run: Job[]; notes: string[] } {
  const run: Job[] = [];
  const notes: string[] = [];
  for (const m of a.models) {
    if (m === 'stories260K') {
      for (const q of a.quants ?? Object.keys(STORIES_FILES)) {
        if (STORIES_FILES[q]) run.push({ name: 'stories260K', quant: q, file: join(MODELS_DIR, STORIES_FILES[q]) });
        else notes.push(`stories260K has no ${q} file (F32, Q8_0, Q4_0): skipped`);
      }
    } else {
      for (const q of a.quants ?? ['Q4_0']) {
        if (SHAPE_QUANTS.includes(q)) run.push({ name: m, quant: q, shape: SHAPES[m] });
        else notes.push(`${SHAPES[m].label} shapes are written in Q4_0, Q4_K or Q8_0, not ${q}: skipped`);
      }
    }
  }
  return { run, notes };
}

// ---------------------------------------------------------------- what a token costs

/** Bytes of weights one decoded token reads: every tensor once, except the embedding table, of which
 *  getRows reads one row (all of it when the output projection is tied to it). */
function weightBytesPerToken(gguf: GgufT): number {
  const tied = !gguf.tensor('output.weight');
  let n = 0;
  for (const t of gguf.tensors) {
    if (t.name === 'token_embd.weight') n += t.byteLength / t.shape[0] + (tied ? t.byteLength : 0);
    else n += t.byteLength;
  }
  return n;
}

interface Dims { nLayer: number; nEmbd: number; nHead: number; nHeadKv: number; headDim: number; nFf: number; vocabSize: number }

/** F32 keys and values read by the decode step at `pos` (attention over pos + 1 positions). */
const kvBytesAt = (d: Dims, pos: number) => d.nLayer * 2 * (pos + 1) * d.nHeadKv * d.headDim * 4;

/** FLOPs of a prefill of T tokens from an empty cache: the matmuls of every token, causal attention, and
 *  the output projection of the last token only (the forward pass computes no other logits). */
function prefillFlops(d: Dims, T: number): number {
  const nq = d.nHead * d.headDim, nkv = d.nHeadKv * d.headDim;
  const perToken = d.nLayer * 2 * (d.nEmbd * (nq + 2 * nkv) + nq * d.nEmbd + 3 * d.nEmbd * d.nFf);
  const attention = d.nLayer * 4 * d.nHead * d.headDim * ((T * (T + 1)) / 2);
  return T * perToken + attention + 2 * d.vocabSize * d.nEmbd;
}

// ---------------------------------------------------------------- counters

/** Every createBuffer / createBindGroup on the device, whoever calls it (pool, arenas, weights,
 *  profiler): the independent check of the Gpu's own counters. */
function countDeviceCreations(device: GPUDevice): { buffers: number; bindGroups: number } {
  const n = { buffers: 0, bindGroups: 0 };
  const createBuffer = device.createBuffer.bind(device);
  const createBindGroup = device.createBindGroup.bind(device);
  device.createBuffer = (d) => { n.buffers++; return createBuffer(d); };
  device.createBindGroup = (d) => { n.bindGroups++; return createBindGroup(d); };
  return n;
}

interface Counts { dispatches: number; submits: number; readbacks: number; poolBuffers: number; bindGroups: number; deviceBuffers: number; deviceBindGroups: number }

function snapshot(gpu: GpuT, dev: { buffers: number; bindGroups: number }): Counts {
  return {
    dispatches: gpu.counters.dispatches, submits: gpu.counters.submits, readbacks: gpu.counters.readbacks,
    poolBuffers: gpu.pool.stats().created, bindGroups: gpu.counters.bindGroupsCreated,
    deviceBuffers: dev.buffers, deviceBindGroups: dev.bindGroups,
  };
}

// ---------------------------------------------------------------- one model on edgewise

interface EdgewiseResult {
  loadMs: number;
  ttftMs: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  prefillRuns: number[];
  decodeRuns: number[];
  decodeSteps: number;
  weightBytesPerToken: number;
  kvBytesPerToken: number;
  gbPerS: number;
  prefillFlops: number;
  prefillGflopPerS: number;
  /** Per decoded token, over the last measured run (every earlier run covered the same positions). */
  perToken: Record<keyof Counts, number>;
  firstTokens: number[];
  kernels: { prefill: KernelTime[] | null; decode: KernelTime[]; decodeForwards: number } | null;
}

async function runEdgewise(gpu: GpuT, dev: { buffers: number; bindGroups: number }, path: string, promptIds: number[],
  c: { gen: number; reps: number; profileTokens: number; fullWarmup: boolean; profile: boolean; progress: (s: string) => void }): Promise<EdgewiseResult & { dims: Dims }> {
  const t0 = performance.now();
  const gguf = await openGgufPath(path);
  let loaded;
  const weightBytes = weightBytesPerToken(gguf);
  try {
    loaded = await loadLanguageModel(gpu, gguf, { contextLength: promptIds.length + c.gen + 8, maxBatch: Math.min(promptIds.length, 256) });
  } finally {
    await gguf.close();
  }
  const { model, weights, hparams: hp } = loaded;
  try {
    await gpu.sync();
    const loadMs = performance.now() - t0;
    c.progress(`loaded in ${(loadMs / 1e3).toFixed(1)} s`);
    const dims: Dims = { nLayer: hp.nLayer, nEmbd: hp.nEmbd, nHead: hp.nHead, nHeadKv: hp.nHeadKv, headDim: hp.headDim, nFf: hp.nFf, vocabSize: hp.vocabSize };
    // Runs: one warm-up of the full length (pipelines compiled, bind groups and pooled buffers made for
    // every position the measured runs visit), then the measured ones, each from an empty cache.
    const runs: { ttft: number; prefillMs: number; decodeMs: number; steps: number; counts: Counts | null; end: Counts; tokens: number[] }[] = [];
    let lastGen: InstanceType<typeof Generator> | null = null;
    for (let r = 0; r <= c.reps; r++) {
      lastGen?.dispose();
      const g = (lastGen = new Generator(gpu, model));
      let afterPrefill: Counts | null = null;
      const warm = r === 0 && !c.fullWarmup;
      const res = await g.generate(warm ? promptIds.slice(0, 1) : promptIds, {
        maxTokens: warm ? 2 : c.gen, onToken: () => { afterPrefill ??= snapshot(gpu, dev); },
      });
      const end = snapshot(gpu, dev);
      c.progress(`${r ? `run ${r}` : `warm-up${warm ? ' (one-token prompt, one decode step)' : ''}`}: time to first token ` +
        `${(res.ttftMs / 1e3).toFixed(2)} s, ${res.decodeSteps} decode steps in ${(res.decodeMs / 1e3).toFixed(2)} s`);
      if (r > 0) runs.push({ ttft: res.ttftMs, prefillMs: res.prefillMs, decodeMs: res.decodeMs, steps: res.decodeSteps, counts: afterPrefill, end, tokens: res.tokens });
    }
    await gpu.sync();
    const last = runs[runs.length - 1];
    if (!last.counts || last.steps < 1) throw new Error(`edgewise: ${path}: the measured run decoded ${last.steps} tokens`);
    const perToken = Object.fromEntries(Object.entries(last.end).map(([k, v]) => [k, (v - last.counts![k as keyof Counts]) / last.steps])) as Record<keyof Counts, number>;
    const prefillRuns = runs.map((x) => promptIds.length / (x.prefillMs / 1e3));
    const decodeRuns = runs.map((x) => x.steps / (x.decodeMs / 1e3));
    const decodeTokensPerS = median(decodeRuns);
    const P = promptIds.length;
    let kv = 0;
    for (let s = 0; s < last.steps; s++) kv += kvBytesAt(dims, P + s);
    const kvBytesPerToken = kv / last.steps;
    const flops = prefillFlops(dims, P);
    const prefillTokensPerS = median(prefillRuns);

    let kernels: EdgewiseResult['kernels'] = null;
    if (c.profile && gpu.profiler.supported && lastGen) {
      // Decode split: the last run's generator holds the prompt in its cache, so the same prompt again
      // reuses the prefix and runs the last prompt token as a one-token forward, then decode steps: every
      // profiled forward is a one-token forward. Prefill split: one more prefill from an empty cache,
      // taken when a prefill is short enough.
      gpu.profiler.enable(true);
      try {
        const res = await lastGen.generate(promptIds, { maxTokens: Math.min(c.profileTokens, c.gen - 1) + 1 });
        const decode = await gpu.profiler.collect();
        let prefill: KernelTime[] | null = null;
        if (median(runs.map((x) => x.prefillMs)) < PREFILL_SPLIT_MAX_MS) {
          const g = new Generator(gpu, model);
          await g.generate(promptIds, { maxTokens: 1 });
          prefill = await gpu.profiler.collect();
          g.dispose();
        } else {
          c.progress(`prefill split skipped: a prefill takes over ${PREFILL_SPLIT_MAX_MS / 1e3} s here`);
        }
        kernels = { prefill, decode, decodeForwards: res.decodeSteps + 1 };
      } finally {
        gpu.profiler.enable(false);
      }
    }
    lastGen?.dispose();
    return {
      dims, loadMs, ttftMs: median(runs.map((x) => x.ttft)), prefillTokensPerS, decodeTokensPerS, prefillRuns, decodeRuns,
      decodeSteps: last.steps, weightBytesPerToken: weightBytes, kvBytesPerToken,
      gbPerS: ((weightBytes + kvBytesPerToken) * decodeTokensPerS) / 1e9,
      prefillFlops: flops, prefillGflopPerS: (flops * prefillTokensPerS) / P / 1e9,
      perToken, firstTokens: last.tokens.slice(0, 8), kernels,
    };
  } finally {
    model.dispose();
    weights.destroy();
    gpu.pool.trim();
  }
}

// ---------------------------------------------------------------- fitting a shape on this machine

const GiB = 1 << 30;

async function whyNot(gpu: GpuT, shape: Shape, quant: string, tmp: string, ctx: number, maxBatch: number): Promise<string | null> {
  const opts = { ...shape.opts, weightType: quant as RandomModelOptions['weightType'], seed: 1 };
  const plan = randomModelPlan(opts);
  const head = ggufHeader({ metadata: plan.metadata, tensors: plan.tensors });
  const fileBytes = head.header.length + head.dataBytes.reduce((s, n, i) => s + n + head.padding[i], 0);
  const largest = Math.max(...head.dataBytes);
  const o = shape.opts;
  const hd = o.headDim ?? o.nEmbd / o.nHead;
  const kv = o.nLayer * 2 * ctx * (o.nHeadKv ?? o.nHead) * hd * 4;
  const work = 4 * maxBatch * (4 * o.nEmbd + 2 * o.nHead * hd + 3 * o.nFf) + 8 * o.vocab;
  const footprint = fileBytes + kv + work;
  const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
  const maxBinding = gpu.limits.maxStorageBufferBindingSize;
  if (largest > maxBinding) return `its largest tensor (${gb(largest)}) exceeds the device's maxStorageBufferBindingSize (${gb(maxBinding)})`;
  // SwiftShader's GPU memory is this machine's memory; llama.cpp then maps the file (page cache).
  const free = freemem();
  if (footprint * 1.25 + GiB > free) return `its GPU footprint (${gb(footprint)} weights + KV + workspace) does not fit the ${gb(free)} of memory available now`;
  const fs = await statfs(tmp);
  const disk = fs.bavail * fs.bsize;
  if (fileBytes + GiB > disk) return `its file (${gb(fileBytes)}) does not fit the ${gb(disk)} free in ${tmp}`;
  return null;
}

// ---------------------------------------------------------------- main

interface Row {
  model: string;
  quant: string;
  file: string;
  file_bytes: number;
  written_ms?: number;
  prompt_tokens: number;
  gen_tokens: number;
  reps: number;
  edgewise: Record<string, unknown>;
  peer: Record<string, unknown> | null;
  ratio: { prefill: number; decode: number } | null;
}

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const pad = (s: string, n: number) => s.padStart(n);
const log = (json: boolean, s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);

async function main(argv: string[]): Promise<number> {
  let a: Args;
  try {
    a = parse(argv);
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  if (a.help) {
    process.stdout.write(`${(await import('node:fs')).readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).slice(0, 18).map((l) => l.slice(3)).join('\n')}\n`);
    return 0;
  }
  const { run, notes } = jobs(a);
  const say = (s: string) => log(a.json, s);

  const gpu = await Gpu.create({ label: 'bench' });
  const dev = countDeviceCreations(gpu.device);
  const threads = availableParallelism();
  const peerEngine = a.peer ? await Peer.open(a.peerThreads) : null;
  const copyGBs = await copyBandwidth(gpu);
  say(`adapter: ${gpu.info.vendor} ${gpu.info.description} (${gpu.info.backend}); subgroups ${gpu.info.features.subgroups}; ` +
    `timing: ${gpu.info.features.timestampQuery ? 'GPU timestamps for the kernel split, wall clock for tokens/s' : 'wall clock'}`);
  if (peerEngine && peerEngine.threads > 1 && loadavg()[0] > threads) {
    say(`note: load average ${loadavg()[0].toFixed(1)} exceeds the ${threads} cores: a multi-threaded llama.cpp waits at every barrier for a descheduled thread; --peer-threads 1 shows the difference`);
  }
  say(`machine: ${threads} cores available, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}, ${(freemem() / 1e9).toFixed(1)} GB memory free`);
  say(`copy bandwidth (buffer to buffer, read + write): ${copyGBs.toFixed(2)} GB/s`);
  if (!a.explicitModels) {
    say('default models: stories260K (F32, Q8_0, Q4_0). The random-weight Llama-3.2-1B, Qwen2.5-1.5B, Llama-3.2-3B and Llama-3.1-8B ' +
      'shapes are opt-in (--models all, or a list such as llama-3.2-1b,llama-3.1-8b; --quant Q4_0,Q4_K,Q8_0): on a CPU Vulkan driver a 1B shape ' +
      'takes about ten minutes');
  }
  for (const n of notes) say(n);

  const rates = new Map<string, Awaited<ReturnType<typeof matmulCeiling>>>();
  const rows: Row[] = [];
  const skipped: { model: string; quant: string; reason: string }[] = [];
  for (const job of run) {
    const small = !!job.file;
    const d = small ? DEFAULTS.small : DEFAULTS.shape;
    const P = a.prompt ?? d.prompt, G = a.gen ?? d.gen, reps = a.reps ?? d.reps;
    const label = `${job.shape?.label ?? job.name} ${job.quant}`;
    let path = job.file;
    let writtenMs: number | undefined;
    if (job.shape) {
      const why = await whyNot(gpu, job.shape, job.quant, a.tmp, P + G + 8, Math.min(P, 256));
      if (why) {
        say(`${label}: skipped: ${why}`);
        skipped.push({ model: job.name, quant: job.quant, reason: why });
        continue;
      }
      path = join(a.tmp, `edgewise-bench-${job.name}-${job.quant}-${process.pid}.gguf`);
      say(`${label}: writing a random-weight file to ${path} ...`);
      const w = await writeRandomModelFile(path, { ...job.shape.opts, weightType: job.quant as RandomModelOptions['weightType'], seed: 1 });
      writtenMs = w.ms;
      say(`${label}: ${(w.bytes / 1e9).toFixed(2)} GB written in ${(w.ms / 1e3).toFixed(1)} s`);
    }
    try {
      const meta = await openGgufPath(path!);
      const vocab = meta.tensor('token_embd.weight')!.shape[0];
      const bosValue = meta.get('tokenizer.ggml.bos_token_id')?.value;
      const fileBytes = (await stat(path!)).size;
      await meta.close();
      const rng = new Rng(P * 7919 + vocab);
      const promptIds = [typeof bosValue === 'number' ? bosValue : 1, ...Array.from({ length: P - 1 }, () => rng.int(3, vocab))];

      say(`${label}: edgewise, prompt ${P}, generate ${G}, ${reps} run(s) after a warm-up ...`);
      const e = await runEdgewise(gpu, dev, path!, promptIds, { gen: G, reps, profileTokens: d.profileTokens, fullWarmup: d.fullWarmup, profile: a.profile, progress: (s) => say(`  ${s}`) });
      const rateType = job.quant;
      if (!rates.has(rateType)) rates.set(rateType, await matmulCeiling(gpu, rateType as 'F32'));
      const rate = rates.get(rateType)!;

      let peer: PeerResult | null = null;
      let peerError: string | undefined;
      if (peerEngine) {
        say(`${label}: llama.cpp, ${peerEngine.threads} threads ...`);
        try {
          peer = await peerEngine.run(path!, { promptIds, genTokens: G, reps });
        } catch (err) {
          peerError = (err as Error).message;
          say(`${label}: peer failed: ${peerError}`);
        }
      }
      const split = (ks: KernelTime[], per: number) => ks.map((k) => ({ label: k.label, ms_per_token: k.totalMs / per, calls_per_token: k.count / per }));
      rows.push({
        model: job.shape?.label ?? job.name, quant: job.quant, file: path!, file_bytes: fileBytes, written_ms: writtenMs,
        prompt_tokens: P, gen_tokens: G, reps,
        edgewise: {
          load_ms: e.loadMs, ttft_ms: e.ttftMs, prefill_tokens_per_s: e.prefillTokensPerS, decode_tokens_per_s: e.decodeTokensPerS,
          prefill_runs: e.prefillRuns, decode_runs: e.decodeRuns, decode_steps: e.decodeSteps,
          weight_bytes_per_token: e.weightBytesPerToken, kv_bytes_per_token: e.kvBytesPerToken,
          gb_per_s: e.gbPerS, fraction_of_copy: e.gbPerS / copyGBs,
          prefill_flops: e.prefillFlops, prefill_gflop_per_s: e.prefillGflopPerS, matmul_rate: rate.shape,
          fraction_of_matmul: e.prefillGflopPerS / rate.gflopPerS,
          per_token: {
            dispatches: e.perToken.dispatches, submits: e.perToken.submits, readbacks: e.perToken.readbacks,
            buffers_created: e.perToken.deviceBuffers, bind_groups_created: e.perToken.deviceBindGroups,
            pool_buffers_created: e.perToken.poolBuffers, gpu_bind_groups_created: e.perToken.bindGroups,
          },
          first_tokens: e.firstTokens,
          kernels: e.kernels && {
            decode: split(e.kernels.decode, e.kernels.decodeForwards), decode_forwards: e.kernels.decodeForwards,
            prefill: e.kernels.prefill && split(e.kernels.prefill, 1),
          },
        },
        peer: peer && {
          engine: peer.engine, system: peer.system, threads: peer.threads, load_ms: peer.loadMs, ttft_ms: peer.ttftMs,
          prefill_tokens_per_s: peer.prefillTokensPerS, decode_tokens_per_s: peer.decodeTokensPerS,
          prefill_runs: peer.prefillRuns, decode_runs: peer.decodeRuns,
        },
        ratio: peer && { prefill: e.prefillTokensPerS / peer.prefillTokensPerS, decode: e.decodeTokensPerS / peer.decodeTokensPerS },
        ...(peerError ? { peer_error: peerError } : {}),
      });
      say(`${label}: edgewise prefill ${fmt(e.prefillTokensPerS)} tok/s, decode ${fmt(e.decodeTokensPerS, 2)} tok/s` +
        (peer ? `; llama.cpp prefill ${fmt(peer.prefillTokensPerS)} tok/s, decode ${fmt(peer.decodeTokensPerS, 2)} tok/s` : ''));
    } finally {
      if (job.shape && path) await rm(path, { force: true });
    }
  }

  const result = {
    adapter: { vendor: gpu.info.vendor, description: gpu.info.description, backend: gpu.info.backend, features: gpu.info.features },
    machine: { cores: threads, load_average: loadavg(), free_memory_bytes: freemem() },
    copy_gb_per_s: copyGBs,
    matmul_rates: Object.fromEntries([...rates].map(([k, r]) => [k, { shape: r.shape, ms: r.ms, gflop_per_s: r.gflopPerS }])),
    models: rows, skipped,
  };
  if (a.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    printTables(result.copy_gb_per_s, result.matmul_rates, rows, skipped);
  }
  await peerEngine?.close();
  gpu.destroy();
  return 0;
}

function printTables(copy: number, rates: Record<string, { shape: string; gflop_per_s: number }>, rows: Row[], skipped: { model: string; quant: string; reason: string }[]) {
  const out = (s = '') => process.stdout.write(`${s}\n`);
  out();
  out(`matmul rate (GPU time, same run): ${Object.values(rates).map((r) => `${r.shape} ${r.gflop_per_s.toPrecision(3)} GFLOP/s`).join('; ')}`);
  out(`copy bandwidth: ${copy.toFixed(2)} GB/s`);
  out();
  out('edgewise (WebGPU)');
  out(`${'model'.padEnd(24)}${pad('P/G', 8)}${pad('prefill t/s', 12)}${pad('decode t/s', 11)}${pad('TTFT ms', 9)}${pad('MB/token', 10)}` +
    `${pad('GB/s', 7)}${pad('of copy', 8)}${pad('GFLOP/s', 9)}${pad('of mm', 7)}${pad('disp/t', 8)}${pad('sub/t', 6)}${pad('buf/t', 6)}${pad('bg/t', 5)}`);
  for (const r of rows) {
    const e = r.edgewise as Record<string, number> & { per_token: Record<string, number> };
    out(`${`${r.model} ${r.quant}`.padEnd(24)}${pad(`${r.prompt_tokens}/${r.gen_tokens}`, 8)}${pad(fmt(e.prefill_tokens_per_s), 12)}${pad(fmt(e.decode_tokens_per_s, 2), 11)}` +
      `${pad(fmt(e.ttft_ms, 0), 9)}${pad(fmt((e.weight_bytes_per_token + e.kv_bytes_per_token) / 1e6, 2), 10)}${pad(fmt(e.gb_per_s, 3), 7)}` +
      `${pad(`${fmt(100 * e.fraction_of_copy, 1)}%`, 8)}${pad(e.prefill_gflop_per_s.toPrecision(2), 9)}${pad(`${fmt(100 * e.fraction_of_matmul, 0)}%`, 7)}` +
      `${pad(fmt(e.per_token.dispatches, 0), 8)}${pad(fmt(e.per_token.submits, 2), 6)}${pad(fmt(e.per_token.buffers_created, 0), 6)}${pad(fmt(e.per_token.bind_groups_created, 0), 5)}`);
  }
  out('(P/G: prompt / generated tokens; MB/token: weights + KV read per decoded token; of mm: prefill FLOP/s over the matmul rate of the same weight type;');
  out(' disp/t, sub/t, buf/t, bg/t: dispatches, queue submissions, createBuffer and createBindGroup calls per decoded token in steady state)');
  const peers = rows.filter((r) => r.peer);
  if (peers.length) {
    out();
    out(`peer: ${(peers[0].peer as Record<string, unknown>).engine}, ${(peers[0].peer as Record<string, unknown>).threads} threads, same file, prompt and counts`);
    out(`${'model'.padEnd(24)}${pad('prefill t/s', 12)}${pad('decode t/s', 11)}${pad('TTFT ms', 9)}${pad('edgewise/peer prefill', 23)}${pad('decode', 8)}`);
    for (const r of peers) {
      const p = r.peer as Record<string, number>;
      out(`${`${r.model} ${r.quant}`.padEnd(24)}${pad(fmt(p.prefill_tokens_per_s), 12)}${pad(fmt(p.decode_tokens_per_s, 2), 11)}${pad(fmt(p.ttft_ms, 0), 9)}` +
        `${pad(`${fmt(r.ratio!.prefill, 3)}x`, 23)}${pad(`${fmt(r.ratio!.decode, 3)}x`, 8)}`);
    }
  }
  for (const r of rows) {
    const k = (r.edgewise as { kernels: { decode: { label: string; ms_per_token: number; calls_per_token: number }[]; prefill: { label: string; ms_per_token: number }[] | null } | null }).kernels;
    if (!k) continue;
    const total = k.decode.reduce((s, x) => s + x.ms_per_token, 0);
    const pre = k.prefill?.reduce((s, x) => s + x.ms_per_token, 0);
    out();
    out(`${r.model} ${r.quant}: GPU time per decoded token ${total.toFixed(2)} ms (prefill of ${r.prompt_tokens}: ${pre === undefined ? 'not profiled' : `${pre.toFixed(1)} ms`}), ` +
      'by kernel (each dispatch in its own timestamped pass):');
    for (const x of [...k.decode].sort((p, q) => q.ms_per_token - p.ms_per_token).slice(0, 8)) {
      out(`  ${x.label.padEnd(34)} ${pad(x.ms_per_token.toFixed(3), 9)} ms ${pad(`${fmt((100 * x.ms_per_token) / total, 0)}%`, 5)}  ${fmt(x.calls_per_token, 1)} calls`);
    }
  }
  for (const s of skipped) out(`skipped ${s.model} ${s.quant}: ${s.reason}`);
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  console.error(e);
  process.exit(1);
});
