// Every supported architecture against llama.cpp on random-weight GGUFs written by
// src/testing/random-model.ts: logits at every position of a random token sequence (token by token, and
// the last row of two batches, which go through the few-row and the tiled prefill kernels) and greedy
// continuations from two prompts, per weight type, with llama.cpp's CPU activation rounding mirrored.
// Then what must be refused before any GPU work: unknown architectures, missing, mis-shaped or unused
// tensors, features llama.cpp has and we lack.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGgufPath } from '../formats/gguf-node.ts';
import { bytesSource, openGguf } from '../formats/gguf.ts';
import { gv, writeGguf, type GgufWriteSpec, type GgufWriterValue } from '../formats/gguf-writer.ts';
import type { GgmlTypeName } from '../formats/ggml-types.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { testGpu } from '../testing/gpu.ts';
import { openOracle, type LlamaOracle } from '../testing/llama-oracle.ts';
import { argmax, compareLogits } from '../testing/compare-logits.ts';
import { randomModelSpec, writeRandomModel, type RandomModelOptions } from '../testing/random-model.ts';
import { Rng } from '../testing/rng.ts';
import { Generator } from '../runtime/generate.ts';
import { ARCHITECTURES } from './architectures.ts';
import { ModelConfigError, UnsupportedArchitectureError, readHparams } from './hparams.ts';
import { loadLanguageModel, type LoadedModel } from './load.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgewise-arch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CTX = 128;
const SEQ = 12; // positions whose logits are compared (the batch of 12 takes the tiled kernels: > 8 rows)
const GREEDY = 32; // tokens generated per prompt
const EOS = 2;

// ---------------------------------------------------------------- tolerances

// |logit difference| vs llama.cpp. Logits here spread over about ±8 (output gain 2).
interface Tolerance {
  /** Every row: the SEQ positions one token at a time, and the last rows of both batches. */
  all: number;
  /** The first `rows` positions within `atol`. Where activations are rounded, a last-bit f32 difference
   *  somewhere flips one rounding by a whole step and every later position inherits it through the KV
   *  cache, so a tight bound on every row cannot hold; the leading positions (rope, attention scale,
   *  norms and biases already at work) must still agree before any flip has had a chance. */
  leading?: { rows: number; atol: number };
}
// F32: no activation rounding on either side; only f32 summation order differs (measured <= 5e-5).
const F32_TOL: Tolerance = { all: 1e-4 };
// F16: both sides round every matmul input to f16, and a last-bit difference before the rounding moves
// a value by a whole f16 step in almost every token: llama.cpp's own batch and one-token paths differ
// by ~2e-3 on these models; we measure up to ~1.4e-2.
const F16_TOL: Tolerance = { all: 3e-2 };
// Q8_0/Q8_K activation rounding mirrored: identical to ~1e-5 until our f32 dot products (llama.cpp sums
// integer blocks) put one activation on the other side of a rounding boundary; that step, amax/127,
// moves the logits by up to ~0.3 on these models.
const QUANT_TOL: Tolerance = { all: 0.5, leading: { rows: 3, atol: 1e-4 } };
// Q4_1: llama.cpp multiplies each Q4_1 block minimum by the Q8_1 activation block sum stored as f16,
// which rounding the activations cannot reproduce: every position differs by ~0.05-0.5.
const Q4_1_TOL: Tolerance = { all: 0.5 };

function toleranceFor(type: GgmlTypeName): Tolerance {
  if (type === 'F32') return F32_TOL;
  if (type === 'F16') return F16_TOL;
  if (type === 'Q4_1') return Q4_1_TOL;
  return QUANT_TOL;
}

// ---------------------------------------------------------------- cases

// Small for SwiftShader, awkward where it matters: GQA and MQA, odd head counts, head dims 32/64, a head
// dim that is not nEmbd / nHead, rope bases other than 10000. K-quants need rows of whole 256-blocks.
function shapes(arch: RandomModelOptions['arch'], kquant: boolean): Omit<RandomModelOptions, 'weightType' | 'seed' | 'arch'> {
  const base = { vocab: 300, ctx: CTX, nLayer: 2 };
  switch (arch) {
    case 'llama': return kquant
      ? { ...base, nEmbd: 256, nHead: 8, nHeadKv: 2, nFf: 256 }
      : { ...base, nEmbd: 96, nHead: 3, nHeadKv: 1, nFf: 160 };
    case 'qwen2': return kquant
      ? { ...base, nEmbd: 256, nHead: 4, nHeadKv: 2, nFf: 256, ropeBase: 1e6 }
      : { ...base, nEmbd: 128, nHead: 4, nHeadKv: 2, nFf: 192, ropeBase: 1e6 };
    case 'qwen3': return kquant
      ? { ...base, nEmbd: 256, nHead: 4, nHeadKv: 2, headDim: 64, nFf: 256, ropeBase: 1e6 }
      : { ...base, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 128, ropeBase: 1e6 };
    // Three layers, pattern 2: local, global, local; window 5 bites within 12 positions; the global
    // layer's rope base (1e6) and linear scaling differ from the local layers' (10000, none).
    case 'gemma3': return kquant
      ? { ...base, nLayer: 3, nEmbd: 256, nHead: 4, nHeadKv: 1, headDim: 64, nFf: 256, swaPattern: 2, slidingWindow: 5, ropeBase: 1e6, ropeScaling: { type: 'linear', factor: 8 } }
      : { ...base, nLayer: 3, nEmbd: 64, nHead: 2, nHeadKv: 1, headDim: 64, nFf: 96, swaPattern: 2, slidingWindow: 5, ropeBase: 1e6, ropeScaling: { type: 'linear', factor: 8 } };
    case 'phi3': return kquant
      ? { ...base, nEmbd: 256, nHead: 4, nFf: 256 }
      : { ...base, nEmbd: 64, nHead: 2, nFf: 96 };
  }
}

interface Case {
  name: string;
  model: RandomModelOptions;
}
const COMMON_TYPES: GgmlTypeName[] = ['F32', 'F16', 'Q8_0', 'Q4_0', 'Q4_K'];
const KQUANT = new Set<GgmlTypeName>(['Q4_K', 'Q5_K', 'Q6_K']);
const CASES: Case[] = [];
let seed = 1000;
for (const arch of ['llama', 'qwen2', 'qwen3', 'gemma3', 'phi3'] as const) {
  const types: GgmlTypeName[] = arch === 'llama' ? [...COMMON_TYPES, 'Q4_1', 'Q5_K', 'Q6_K'] : COMMON_TYPES;
  types.forEach((weightType, i) => {
    // Tied and untied output alternate, so every architecture has both.
    const tied = (i + arch.length) % 2 === 0;
    CASES.push({ name: `${arch} ${weightType}${tied ? ' tied' : ''}`, model: { arch, weightType, seed: seed++, tied, ...shapes(arch, KQUANT.has(weightType)) } });
  });
}
// Rope scaling on llama: linear (rope.scaling.type/factor), and Llama 3's rope_freqs tensor with an
// original context short enough that most frequencies are divided.
CASES.push({ name: 'llama Q8_0 rope linear x4', model: { arch: 'llama', weightType: 'Q8_0', seed: seed++, ...shapes('llama', false), ropeScaling: { type: 'linear', factor: 4 } } });
CASES.push({
  name: 'llama F32 rope llama3 (rope_freqs)',
  model: { arch: 'llama', weightType: 'F32', seed: seed++, ...shapes('llama', false), nEmbd: 128, nHead: 4, nHeadKv: 2, ropeBase: 500000, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 } },
});

// ---------------------------------------------------------------- conformance

describe.each(CASES)('$name against llama.cpp', ({ name, model }) => {
  let oracle: LlamaOracle;
  let loaded: LoadedModel;
  let gen: Generator;

  beforeAll(async () => {
    const path = join(dir, `${name.replace(/\W+/g, '-')}.gguf`);
    writeFileSync(path, writeRandomModel(model));
    oracle = await openOracle(path, { contextSize: CTX });
    const gguf = await openGgufPath(path);
    try {
      loaded = await loadLanguageModel(await testGpu(), gguf, { contextLength: CTX, maxBatch: SEQ, llamaCppActivationRounding: true });
    } finally {
      await gguf.close();
    }
    gen = new Generator(await testGpu(), loaded.model);
  });

  afterAll(async () => {
    gen?.dispose();
    loaded?.model.dispose();
    loaded?.weights.destroy();
    await oracle?.close();
  });

  it('logits at every position match', async () => {
    const gpu = await testGpu();
    const rng = new Rng(model.seed);
    const seq = [1, ...Array.from({ length: SEQ - 1 }, () => rng.int(3, model.vocab))];
    // Like with like: one token at a time against llama.cpp's one-token path, batches against its
    // batched path (the two are not bit-identical in llama.cpp either for some weight types).
    const refOne = await oracle.logits(seq, { oneAtATime: true });
    const refBatch = await oracle.logits(seq);
    const rows: Float32Array[] = [];
    const refRows: Float32Array[] = [];
    for (let p = 0; p < seq.length; p++) {
      const rec = gpu.recorder();
      loaded.model.forward(rec, [seq[p]], p);
      rec.submit();
      rows.push(await gpu.readF32(loaded.model.logits));
      refRows.push(refOne[p]);
    }
    for (const n of [5, SEQ]) {
      const rec = gpu.recorder();
      loaded.model.forward(rec, seq.slice(0, n), 0);
      rec.submit();
      rows.push(await gpu.readF32(loaded.model.logits));
      refRows.push(refBatch[n - 1]);
    }
    const diffs = rows.map((r, i) => compareLogits([r], [refRows[i]]).maxAbsDiff);
    const all = compareLogits(rows, refRows);
    const tol = toleranceFor(model.weightType);
    const tight = diffs.filter((d) => d <= 1e-4).length;
    console.log(`${name}: logits vs llama.cpp over ${SEQ} positions + 2 batches: max |diff| ${all.maxAbsDiff.toExponential(2)}, median ${median(diffs).toExponential(2)}, ${tight}/${diffs.length} rows within 1e-4, top-1 ${all.top1Agree}/${all.rows}`);
    expect(all.top1Agree, all.message).toBe(all.rows);
    expect(all.maxAbsDiff, `${all.message}; rows: ${diffs.map((d) => d.toExponential(0)).join(' ')}`).toBeLessThan(tol.all);
    if (tol.leading) {
      const lead = diffs.slice(0, tol.leading.rows);
      expect(Math.max(...lead), `first ${tol.leading.rows} positions: ${lead.map((d) => d.toExponential(1)).join(' ')}`).toBeLessThan(tol.leading.atol);
    }
  });

  it(`greedy continuations of ${GREEDY} tokens are identical`, async () => {
    const rng = new Rng(model.seed + 7);
    let total = 0;
    const notes: string[] = [];
    for (const len of [4, 9]) {
      const prompt = [1, ...Array.from({ length: len - 1 }, () => rng.int(3, model.vocab))];
      let want = await oracle.greedy(prompt, GREEDY);
      const got = (await gen.generate(prompt, { maxTokens: GREEDY, stopTokens: [EOS] })).tokens;
      if (!sameTokens(got, want)) {
        // llama.cpp evaluates the prompt as one batch, and its batched kernels can round an activation
        // differently from its one-token kernels (we see it with Q4_K); where that decides a near-tie,
        // its greedy and its own token-by-token argmax part ways. Ours must then equal the latter.
        const one = await greedyOneAtATime(oracle, prompt, GREEDY);
        notes.push(`prompt of ${len}: llama.cpp's batched greedy parts from its token-by-token argmax at token ${firstDifference(want, one)}; compared with the latter`);
        want = one;
      }
      expect(got, `prompt [${prompt}]`).toEqual(want);
      total += want.length;
    }
    console.log(`${name}: ${total} greedy tokens identical to llama.cpp${notes.length ? ` (${notes.join('; ')})` : ''}`);
  });
});

/** llama.cpp's greedy continuation with every position evaluated one token at a time. */
async function greedyOneAtATime(oracle: LlamaOracle, prompt: readonly number[], n: number): Promise<number[]> {
  const seq = [...prompt];
  const out: number[] = [];
  while (out.length < n) {
    const rows = await oracle.logits(seq, { oneAtATime: true });
    const next = argmax(rows[rows.length - 1]);
    if (next === EOS) break;
    out.push(next);
    seq.push(next);
  }
  return out;
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

function firstDifference(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// ---------------------------------------------------------------- refusals

/** A Gpu that fails the test on any use: the checks must finish before anything touches the device. */
const noGpu = new Proxy({}, { get: (_, key) => { throw new Error(`GPU used before the model was checked (gpu.${String(key)})`); } }) as Gpu;

async function load(spec: GgufWriteSpec): Promise<unknown> {
  const gguf = await openGguf(bytesSource(writeGguf(spec)));
  return loadLanguageModel(noGpu, gguf, { contextLength: 64 }).then(() => null, (e: unknown) => e);
}

function small(arch: RandomModelOptions['arch'], extra: Partial<RandomModelOptions> = {}): GgufWriteSpec {
  return randomModelSpec({ arch, weightType: 'F32', seed: 5, vocab: 260, ctx: 64, nLayer: 2, nEmbd: 32, nHead: 2, nFf: 32, ...extra });
}

function withMeta(spec: GgufWriteSpec, key: string, value: GgufWriterValue): GgufWriteSpec {
  const metadata = new Map(spec.metadata as Map<string, GgufWriterValue>);
  metadata.set(key, value);
  return { ...spec, metadata };
}

describe('model checks before any GPU work', () => {
  it('refuses an unknown architecture, listing the supported ones', async () => {
    const e = await load(withMeta(small('llama'), 'general.architecture', 'mamba'));
    expect(e).toBeInstanceOf(UnsupportedArchitectureError);
    const msg = (e as Error).message;
    expect(msg).toContain("'mamba'");
    for (const arch of Object.keys(ARCHITECTURES)) expect(msg).toContain(arch);
    expect(Object.keys(ARCHITECTURES).sort()).toEqual(['gemma3', 'llama', 'phi3', 'qwen2', 'qwen3']);
  });

  it('refuses a missing tensor by name', async () => {
    for (const [arch, name] of [['llama', 'blk.1.ffn_down.weight'], ['gemma3', 'blk.0.post_ffw_norm.weight'], ['qwen3', 'blk.1.attn_k_norm.weight'], ['phi3', 'blk.0.attn_qkv.weight']] as const) {
      const spec = small(arch, arch === 'qwen3' || arch === 'gemma3' ? { headDim: 32 } : {});
      const e = await load({ ...spec, tensors: spec.tensors!.filter((t) => t.name !== name) });
      expect(e, `${arch} without ${name}`).toBeInstanceOf(ModelConfigError);
      // phi3 without its fused attn_qkv is asked for the separate q/k/v instead, as llama.cpp does.
      expect((e as Error).message).toContain(arch === 'phi3' ? "'blk.0.attn_q.weight' is missing" : `'${name}' is missing`);
    }
  });

  it('refuses a mis-shaped tensor, naming both shapes', async () => {
    const spec = small('qwen2');
    const tensors = spec.tensors!.map((t) => (t.name === 'blk.0.attn_k.weight' ? { ...t, shape: [16, 32], values: new Float32Array(16 * 32) } : t));
    const e = await load({ ...spec, tensors });
    expect(e).toBeInstanceOf(ModelConfigError);
    expect((e as Error).message).toBe("tensor 'blk.0.attn_k.weight' has shape [16, 32], the metadata implies [32, 32]");
    // phi3's fused ffn_up must hold gate and up: 2 * n_ff rows.
    const phi = small('phi3');
    const e2 = await load({ ...phi, tensors: phi.tensors!.map((t) => (t.name === 'blk.1.ffn_up.weight' ? { ...t, shape: [32, 32], values: new Float32Array(32 * 32) } : t)) });
    expect((e2 as Error).message).toBe("tensor 'blk.1.ffn_up.weight' has shape [32, 32], the metadata implies [64, 32]");
  });

  it('refuses tensors the forward pass would silently ignore', async () => {
    const spec = small('phi3');
    const extra = { name: 'rope_factors_long.weight', shape: [8], type: 'F32' as const, values: new Float32Array(8).fill(1) };
    const e = await load({ ...spec, tensors: [...spec.tensors!, extra] });
    expect(e).toBeInstanceOf(ModelConfigError);
    expect((e as Error).message).toContain('rope_factors_long.weight');
  });

  it('refuses what llama.cpp does and we do not: final logit softcapping, longrope', async () => {
    const soft = await load(withMeta(small('gemma3', { headDim: 32 }), 'gemma3.final_logit_softcapping', gv.f32(30)));
    expect(soft).toBeInstanceOf(ModelConfigError);
    expect((soft as Error).message).toContain('final logit softcapping');
    const rope = await load(withMeta(small('phi3'), 'phi3.rope.scaling.type', 'longrope'));
    expect(rope).toBeInstanceOf(ModelConfigError);
    expect((rope as Error).message).toContain("rope scaling type 'longrope'");
  });

  it('accepts each architecture as written, checks passing (the GPU is the first thing it touches)', async () => {
    for (const arch of ['llama', 'qwen2', 'qwen3', 'gemma3', 'phi3'] as const) {
      const e = await load(small(arch, arch === 'qwen3' || arch === 'gemma3' ? { headDim: 32 } : {}));
      expect((e as Error).message, arch).toMatch(/^GPU used before the model was checked/);
    }
  });
});

describe('hyperparameters as llama.cpp reads them', () => {
  const gemma = (extra: Record<string, unknown> = {}) => {
    const meta: Record<string, unknown> = {
      'general.architecture': 'gemma3', 'gemma3.embedding_length': 64, 'gemma3.block_count': 8, 'gemma3.feed_forward_length': 96,
      'gemma3.attention.head_count': 2, 'gemma3.attention.head_count_kv': 1, 'gemma3.attention.key_length': 64,
      'gemma3.attention.sliding_window': 512, ...extra,
    };
    return readHparams((k) => meta[k], 300);
  };

  it('gemma3: 5 local layers then 1 global by default, a period or a per-layer list from the GGUF', () => {
    expect(gemma().swaLayers).toEqual([true, true, true, true, true, false, true, true]);
    expect(gemma({ 'gemma3.attention.sliding_window_pattern': 3 }).swaLayers).toEqual([true, true, false, true, true, false, true, true]);
    const list = [false, true, false, true, true, true, false, false];
    expect(gemma({ 'gemma3.attention.sliding_window_pattern': list }).swaLayers).toEqual(list);
    expect(gemma({ 'gemma3.attention.sliding_window': 0 }).swaLayers).toEqual(new Array(8).fill(false));
    expect(() => gemma({ 'gemma3.attention.sliding_window_pattern': [true] })).toThrow(ModelConfigError);
  });

  it('gemma3: local rope base 10000 unless rope.freq_base_swa says otherwise; attention scale by head dim except the 27B', () => {
    expect(gemma().ropeBaseSwa).toBe(10000);
    expect(gemma({ 'gemma3.rope.freq_base_swa': 20000 }).ropeBaseSwa).toBe(20000);
    expect(gemma().attnScale).toBe(1 / Math.sqrt(64));
    // 62 layers is how llama.cpp recognises the 27B: 1/sqrt(n_embd / n_head) = 1/sqrt(32) here.
    expect(gemma({ 'gemma3.block_count': 62 }).attnScale).toBe(1 / Math.sqrt(32));
  });

  it('rope scaling: a bare factor scales linearly, none never scales, unknown types are refused', () => {
    const llama = (extra: Record<string, unknown>) => readHparams((k) => ({
      'general.architecture': 'llama', 'llama.embedding_length': 64, 'llama.block_count': 2, 'llama.feed_forward_length': 96,
      'llama.attention.head_count': 2, ...extra,
    } as Record<string, unknown>)[k], 300).ropeScaling;
    expect(llama({})).toMatchObject({ type: 'none', factor: 1 });
    expect(llama({ 'llama.rope.scaling.factor': 4 })).toMatchObject({ type: 'linear', factor: 4 });
    expect(llama({ 'llama.rope.scaling.type': 'none', 'llama.rope.scaling.factor': 4 })).toMatchObject({ type: 'none', factor: 1 });
    expect(() => llama({ 'llama.rope.scaling.type': 'su' })).toThrow(/rope scaling type 'su' is not supported/);
  });
});
