// Loading a language model from every kind of source, and refusing every kind of bad file.
// - Bad input: one typed EdgewiseError each, raised before the GPU is touched (a Gpu stand-in that has
//   only device limits fails the test on any other use), then the same cases on a real Gpu, which must
//   load and run a good model afterwards with identical logits and no buffers left behind.
// - Sources: a random-weight model written whole and as three split files, loaded from paths, from
//   URLs through a local HTTP server that answers Range requests, and from Blobs; the logits must equal
//   those of the unsplit file bit for bit, the weights must arrive in bounded reads with progress, and
//   a server that ignores Range is refused with a clear error.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgewiseError } from '../errors.ts';
import { bytesSource, GgufFormatError, GgufSourceError, openGguf, openGgufBlobs, openGgufUrl, type ByteSource, type Gguf } from '../formats/gguf.ts';
import { openGgufPath } from '../formats/gguf-node.ts';
import { gv, writeGguf, writeGgufSplits, type GgufWriteSpec, type GgufWriterTensor, type GgufWriterValue } from '../formats/gguf-writer.ts';
import { DeviceLimitError, GpuOutOfMemoryError } from '../gpu/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ggufLayout } from '../testing/gguf-fuzz.ts';
import { testGpu } from '../testing/gpu.ts';
import { randomModelSpec } from '../testing/random-model.ts';
import { ModelConfigError, UnsupportedArchitectureError } from './hparams.ts';
import { loadLanguageModel, ModelTooLargeError, type LoadOptions, type LoadProgress } from './load.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgewise-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// llama, 2 layers, 2 heads of 16 (1 KV head), vocab 260: 42 KB of weights in 20 tensors.
const SPEC = randomModelSpec({ arch: 'llama', weightType: 'F32', seed: 9, vocab: 260, ctx: 64, nLayer: 2, nEmbd: 32, nHead: 2, nHeadKv: 1, nFf: 32 });
const GOOD = writeGguf(SPEC);
const PROMPT = [1, 7, 100, 259, 42];
const OPTS: LoadOptions = { contextLength: 32, maxBatch: 8 };

function withMeta(spec: GgufWriteSpec, entries: Record<string, GgufWriterValue | undefined>): GgufWriteSpec {
  const metadata = new Map(spec.metadata as Map<string, GgufWriterValue>);
  for (const [k, v] of Object.entries(entries)) {
    if (v === undefined) metadata.delete(k);
    else metadata.set(k, v);
  }
  return { ...spec, metadata };
}

function withTensor(spec: GgufWriteSpec, name: string, change: (t: GgufWriterTensor) => GgufWriterTensor | null): GgufWriteSpec {
  const tensors = spec.tensors!.flatMap((t) => (t.name === name ? [change(t)].filter((x): x is GgufWriterTensor => x !== null) : [t]));
  return { ...spec, tensors };
}

/** A copy of `bytes` with one header field rewritten (found by the fuzzer's layout walker). */
function patched(bytes: Uint8Array, kind: 'tensor type' | 'tensor offset', owner: string, value: bigint): Uint8Array {
  const f = ggufLayout(bytes).fields.find((x) => x.kind === kind && x.owner === owner);
  if (!f) throw new Error(`no ${kind} field for ${owner}`);
  const out = bytes.slice();
  const dv = new DataView(out.buffer);
  if (f.width === 8) dv.setBigUint64(f.at, value, true);
  else dv.setUint32(f.at, Number(value), true);
  return out;
}

interface BadCase {
  name: string;
  bytes: () => Uint8Array;
  opts?: LoadOptions;
  /** The error class and a part of its message. */
  error: new (...args: never[]) => EdgewiseError;
  message: string | RegExp;
  /** Device limits of the stand-in (default: a roomy device). */
  limits?: { maxStorageBufferBindingSize: number; maxBufferSize: number };
}

const VOCAB_TRIMMED = withMeta(SPEC, {
  'tokenizer.ggml.tokens': (SPEC.metadata as Map<string, string[]>).get('tokenizer.ggml.tokens')!.slice(0, 259),
});

const BAD: BadCase[] = [
  { name: 'truncated in the header', bytes: () => GOOD.subarray(0, 5000), error: GgufFormatError, message: /remain in the file \(truncated or corrupt\)|GGUF truncated/ },
  { name: 'truncated in the tensor data', bytes: () => GOOD.subarray(0, GOOD.length - 100), error: GgufFormatError, message: /tensor 'output.weight' data \[\d+, \d+\) lies outside the \d+-byte file/ },
  { name: 'wrong magic', bytes: () => { const b = GOOD.slice(); b.set([0x47, 0x47, 0x4d, 0x4c]); return b; }, error: GgufFormatError, message: "not a GGUF file: starts with 0x4c4d4747 ('GGML')" },
  { name: 'unsupported version', bytes: () => { const b = GOOD.slice(); b[4] = 7; return b; }, error: GgufFormatError, message: 'version 7 is not supported (2 and 3 are)' },
  { name: 'unknown tensor type', bytes: () => patched(GOOD, 'tensor type', 'blk.0.attn_q.weight', 99n), error: GgufFormatError, message: "tensor 'blk.0.attn_q.weight': unknown ggml type id 99" },
  { name: 'tensor data outside the file', bytes: () => patched(GOOD, 'tensor offset', 'blk.1.ffn_up.weight', 1n << 40n), error: GgufFormatError, message: /tensor 'blk.1.ffn_up.weight' data \[\d+, \d+\) lies outside/ },
  { name: 'overlapping tensors', bytes: () => patched(GOOD, 'tensor offset', 'blk.1.ffn_up.weight', 0n), error: GgufFormatError, message: /overlaps 'token_embd.weight'/ },
  { name: 'missing tensor', bytes: () => writeGguf(withTensor(SPEC, 'blk.1.ffn_down.weight', () => null)), error: ModelConfigError, message: "tensor 'blk.1.ffn_down.weight' is missing (architecture llama)" },
  {
    name: 'mis-shaped tensor',
    bytes: () => writeGguf(withTensor(SPEC, 'blk.0.attn_v.weight', (t) => ({ ...t, shape: [32, 32], values: new Float32Array(32 * 32) }))),
    error: ModelConfigError, message: "tensor 'blk.0.attn_v.weight' has shape [32, 32], the metadata implies [16, 32]",
  },
  {
    // 3 heads of 16 (key_length) means q is [48, 32]; the file's q is [32, 32].
    name: 'head_count contradicts the q weight',
    bytes: () => writeGguf(withMeta(SPEC, { 'llama.attention.head_count': gv.u32(3), 'llama.attention.head_count_kv': gv.u32(1), 'llama.attention.key_length': gv.u32(16) })),
    error: ModelConfigError, message: "tensor 'blk.0.attn_q.weight' has shape [32, 32], the metadata implies [48, 32]",
  },
  {
    name: 'feed_forward_length contradicts the ffn weights',
    bytes: () => writeGguf(withMeta(SPEC, { 'llama.feed_forward_length': gv.u32(64) })),
    error: ModelConfigError, message: "tensor 'blk.0.ffn_gate.weight' has shape [32, 32], the metadata implies [64, 32]",
  },
  { name: 'vocabulary shorter than the embedding', bytes: () => writeGguf(VOCAB_TRIMMED), error: ModelConfigError, message: 'the vocabulary has 259 tokens (tokenizer.ggml.tokens) but token_embd.weight has 260 rows' },
  { name: 'vocab_size contradicts the embedding', bytes: () => writeGguf(withMeta(SPEC, { 'llama.vocab_size': gv.u32(32000) })), error: ModelConfigError, message: 'llama.vocab_size is 32000 but token_embd.weight has 260 rows' },
  { name: 'absurd block_count', bytes: () => writeGguf(withMeta(SPEC, { 'llama.block_count': gv.u32(0xffffffff) })), error: ModelConfigError, message: 'llama.block_count is 4294967295, more than the 4096 layers any model has' },
  { name: 'block_count beyond the tensors', bytes: () => writeGguf(withMeta(SPEC, { 'llama.block_count': gv.u32(100) })), error: ModelConfigError, message: 'llama.block_count is 100 but the file holds only 21 tensors' },
  {
    name: 'a matrix type the kernels lack',
    bytes: () => writeGguf(withTensor(SPEC, 'blk.1.attn_k.weight', (t) => ({ name: t.name, shape: t.shape, type: 'Q5_0', data: new Uint8Array(16 * 22) }))),
    error: ModelConfigError, message: "tensor 'blk.1.attn_k.weight' is Q5_0; matmul supports F32, F16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K",
  },
  {
    name: 'an embedding type the row lookup lacks',
    bytes: () => writeGguf(withTensor(SPEC, 'token_embd.weight', (t) => ({ name: t.name, shape: t.shape, type: 'Q5_1', data: new Uint8Array(260 * 24) }))),
    error: ModelConfigError, message: "tensor 'token_embd.weight' is Q5_1; embedding lookup supports",
  },
  {
    name: 'unknown architecture',
    bytes: () => writeGguf(withMeta(SPEC, { 'general.architecture': 'mamba' })),
    error: UnsupportedArchitectureError, message: "architecture 'mamba' is not supported (supported: llama, qwen2, qwen3, gemma3, phi3)",
  },
  {
    name: "architecture named after an Object property ('constructor')",
    bytes: () => writeGguf(withMeta(SPEC, { 'general.architecture': 'constructor' })),
    error: UnsupportedArchitectureError, message: "architecture 'constructor' is not supported",
  },
  {
    // Vocabulary tables are cut into row parts of 64-row multiples when they exceed a binding; below
    // 64 rows per binding even that cannot help.
    name: 'a weight larger than a storage binding',
    bytes: () => GOOD, limits: { maxStorageBufferBindingSize: 4096, maxBufferSize: 1 << 30 },
    error: DeviceLimitError, message: 'device limit maxStorageBufferBindingSize: need 33280, adapter allows 4096 (token_embd.weight, checked before loading)',
  },
  {
    name: 'a KV cache larger than a buffer',
    bytes: () => writeGguf(withMeta(SPEC, { 'llama.context_length': gv.u32(1 << 22) })), opts: { contextLength: 1 << 22, maxBatch: 8 },
    limits: { maxStorageBufferBindingSize: 128 << 20, maxBufferSize: 256 << 20 },
    error: DeviceLimitError, message: 'device limit maxStorageBufferBindingSize: need 268435456, adapter allows 134217728 (k_cache.0, checked before loading)',
  },
  {
    // 288-wide heads: the attention kernels take at most 256; refused at load, not at the first token.
    name: 'a head dimension the attention kernels lack',
    bytes: () => writeGguf(randomModelSpec({ arch: 'llama', weightType: 'F32', seed: 10, vocab: 260, ctx: 64, nLayer: 1, nEmbd: 288, nHead: 1, nFf: 32 })),
    error: ModelConfigError, message: 'head dimension 288 is not supported by the attention kernels (a multiple of 4 from 4 to 256)',
  },
  {
    name: 'a model over the memory budget',
    bytes: () => GOOD, opts: { ...OPTS, memoryBudget: 64 << 10 },
    error: ModelTooLargeError, message: /^the model needs 0\.1 MiB of GPU memory \(weights 0\.1 MiB, KV cache 0\.0 MiB, workspaces 0\.0 MiB\) but the budget is 0\.1 MiB/,
  },
];

/** A Gpu that has device limits and nothing else: any other use fails the test. */
function limitsOnly(limits = { maxStorageBufferBindingSize: 128 << 20, maxBufferSize: 256 << 20 }): Gpu {
  return new Proxy({}, {
    get: (_, key) => {
      if (key === 'limits') return limits;
      if (key === 'then') return undefined;
      throw new Error(`GPU used before the model was checked (gpu.${String(key)})`);
    },
  }) as Gpu;
}

async function refusal(gpu: Gpu, c: BadCase): Promise<unknown> {
  try {
    const gguf = await openGguf(bytesSource(c.bytes(), `${c.name}.gguf`));
    await loadLanguageModel(gpu, gguf, c.opts ?? OPTS);
  } catch (e) {
    return e;
  }
  return undefined;
}

function expectRefusal(e: unknown, c: BadCase): void {
  expect(e, `${c.name}: no error`).toBeInstanceOf(EdgewiseError);
  expect(e, `${c.name}: ${(e as Error).message}`).toBeInstanceOf(c.error);
  const msg = (e as Error).message;
  if (typeof c.message === 'string') expect(msg, c.name).toContain(c.message);
  else expect(msg, c.name).toMatch(c.message);
}

async function lastLogits(gpu: Gpu, gguf: Gguf, opts: LoadOptions = OPTS, onProgress?: (p: LoadProgress) => void): Promise<Float32Array> {
  const loaded = await loadLanguageModel(gpu, gguf, opts, onProgress);
  try {
    gpu.run((rec) => loaded.model.forward(rec, PROMPT, 0));
    return await gpu.readF32(loaded.model.logits);
  } finally {
    loaded.model.dispose();
    loaded.weights.destroy();
  }
}

function expectSameLogits(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  expect(Buffer.compare(new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength), new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength)), `${what}: logits differ`).toBe(0);
}

describe('bad input: one typed error each, before the GPU is touched', () => {
  for (const c of BAD) {
    it(c.name, async () => {
      expectRefusal(await refusal(limitsOnly(c.limits), c), c);
    });
  }
});

describe('after every refusal the same Gpu loads and runs a good model', () => {
  it('refusals (before and during upload) leave nothing allocated and the next load gives the same logits', { timeout: 300_000 }, async () => {
    const gpu = await testGpu();
    const before = await lastLogits(gpu, await openGguf(bytesSource(GOOD)));
    const pool = gpu.pool.stats();

    // Count weight buffers made and destroyed: a refusal must destroy every one it made.
    const made: Tensor[] = [];
    let destroyed = 0;
    const createWeight = gpu.createWeight.bind(gpu);
    gpu.createWeight = (...args) => {
      const t = createWeight(...args);
      made.push(t);
      const destroy = t.buffer.destroy.bind(t.buffer);
      t.buffer.destroy = () => { destroyed++; destroy(); };
      return t;
    };
    try {
      for (const c of BAD.filter((x) => !x.limits)) {
        const e = await refusal(gpu, c);
        expectRefusal(e, c);
        expect(made.length, `${c.name}: weight buffers made before the refusal`).toBe(0);
      }
      // The real device's own limit: a context whose per-layer KV cache is one byte row over it.
      const maxBinding = gpu.limits.maxStorageBufferBindingSize;
      const ctx = Math.floor(maxBinding / 64) + 1; // one KV head of 16 F32 values per position
      const kv: BadCase = {
        name: 'a KV cache over this device', bytes: () => writeGguf(withMeta(SPEC, { 'llama.context_length': gv.u32(ctx) })), opts: { contextLength: ctx, maxBatch: 8 },
        error: DeviceLimitError, message: `device limit maxStorageBufferBindingSize: need ${ctx * 64}, adapter allows ${maxBinding} (k_cache.0, checked before loading)`,
      };
      expectRefusal(await refusal(gpu, kv), kv);
      expect(made.length).toBe(0);
      // A source that fails half way through the upload (a dropped connection): typed, and every
      // weight buffer made so far destroyed.
      const src = bytesSource(GOOD, 'flaky.gguf');
      let reads = 0;
      const flaky: ByteSource = {
        ...src,
        read: (o, n) => (++reads > 12 ? Promise.reject(new GgufSourceError('io', 'flaky.gguf', `connection dropped at byte ${o}`)) : src.read(o, n)),
      };
      const e = await loadLanguageModel(gpu, await openGguf(flaky, { initialWindow: 1 << 20 }), OPTS).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(GgufSourceError);
      expect((e as Error).message).toContain('connection dropped');
      expect(made.length).toBeGreaterThan(5);
      expect(destroyed).toBe(made.length);
    } finally {
      delete (gpu as { createWeight?: unknown }).createWeight; // back to the prototype's
    }
    await gpu.sync();
    expect(gpu.pool.stats().liveBuffers, 'pooled buffers still held after the refusals').toBe(pool.liveBuffers);
    expectSameLogits(await lastLogits(gpu, await openGguf(bytesSource(GOOD))), before, 'after the refusals');
  });
});

// ---------------------------------------------------------------- GPU out of memory

/**
 * Make the device refuse allocations past `budget` bytes the way WebGPU does: createBuffer returns a
 * (here: 4-byte) buffer and the error goes to the innermost out-of-memory error scope. An allocation
 * outside any such scope would be an uncaptured error in a browser: the stand-in throws instead, so
 * the test fails on any allocation the loader does not check.
 */
function oomAfter(gpu: Gpu, budget: number): { restore: () => void; refused: () => number; used: () => number } {
  const dev = gpu.device;
  const d = dev as unknown as Record<string, unknown>;
  const real = { create: dev.createBuffer.bind(dev), push: dev.pushErrorScope.bind(dev), pop: dev.popErrorScope.bind(dev) };
  const scopes: { filter: GPUErrorFilter; injected: string | null }[] = [];
  let used = 0, refused = 0;
  d.pushErrorScope = (filter: GPUErrorFilter) => {
    scopes.push({ filter, injected: null });
    real.push(filter);
  };
  d.popErrorScope = async () => {
    const scope = scopes.pop();
    const err = await real.pop();
    return err ?? (scope?.injected ? ({ message: scope.injected } as GPUError) : null);
  };
  d.createBuffer = (desc: GPUBufferDescriptor) => {
    if (used + desc.size <= budget) {
      used += desc.size;
      return real.create(desc);
    }
    refused++;
    const scope = scopes.findLast((x) => x.filter === 'out-of-memory');
    if (!scope) throw new Error(`test: '${desc.label}' (${desc.size} bytes) was allocated outside an out-of-memory error scope`);
    scope.injected ??= `Out of memory: cannot allocate ${desc.size} bytes for '${desc.label}'`;
    return real.create({ ...desc, size: 4 });
  };
  return {
    restore: () => { delete d.createBuffer; delete d.pushErrorScope; delete d.popErrorScope; },
    refused: () => refused,
    used: () => used,
  };
}

describe('GPU out of memory during load', () => {
  it('is a GpuOutOfMemoryError naming the tensor or the KV cache and the sizes, with nothing left allocated, and the next load works', { timeout: 300_000 }, async () => {
    const gpu = await testGpu();
    const before = await lastLogits(gpu, await openGguf(bytesSource(GOOD)));
    await gpu.sync();
    gpu.pool.trim();
    const weights0 = { count: gpu.weightBufferCount, bytes: gpu.weightBytes };
    const live0 = gpu.pool.stats().liveBuffers;
    const weightTotal = (await openGguf(bytesSource(GOOD))).tensors.reduce((n, t) => n + t.byteLength, 0);
    const cases = [
      { budget: Math.floor(weightTotal / 2), what: 'half way through the weights', message: /^GPU out-of-memory error in (blk\.\d\.|token_embd|output)[^:]*: .* \(\d+\.\d KiB asked for\)/, context: /weights take \d+\.\d KiB and \d+\.\d KiB were placed before it; everything this load allocated has been freed/ },
      { budget: weightTotal + 64, what: 'at the KV cache', message: /^GPU out-of-memory error in the KV cache and workspaces: .* \(\d+\.\d KiB asked for\)/, context: /after the weights \(\d+\.\d KiB\) were placed; the KV cache is \d+\.\d KiB for a context of 32 .*everything this load allocated has been freed/ },
    ];
    for (const c of cases) {
      const fault = oomAfter(gpu, c.budget);
      let e: unknown;
      try {
        e = await loadLanguageModel(gpu, await openGguf(bytesSource(GOOD)), OPTS).then(() => undefined, (x: unknown) => x);
      } finally {
        fault.restore();
      }
      expect(fault.refused(), `${c.what}: allocations refused`).toBeGreaterThan(0);
      expect(e, c.what).toBeInstanceOf(GpuOutOfMemoryError);
      expect(e).toBeInstanceOf(EdgewiseError);
      const err = e as GpuOutOfMemoryError;
      expect(err.kind).toBe('out-of-memory');
      expect(err.message, c.what).toMatch(/^GPU out-of-memory error in .*Out of memory: cannot allocate \d+ bytes/);
      expect(err.message, c.what).toMatch(c.message);
      expect(err.message, c.what).toMatch(c.context);
      expect(err.bytes, c.what).toBeGreaterThan(0);
      await gpu.sync();
      expect({ count: gpu.weightBufferCount, bytes: gpu.weightBytes }, `${c.what}: weight buffers left`).toEqual(weights0);
      expect(gpu.pool.stats().liveBuffers, `${c.what}: pooled buffers left`).toBe(live0);
    }
    expectSameLogits(await lastLogits(gpu, await openGguf(bytesSource(GOOD))), before, 'after running out of memory');
  });
});

// ---------------------------------------------------------------- sources

/**
 * A static file server on 127.0.0.1: /range/ answers Range requests with 206; /norange/ ignores Range
 * and sends the whole file; /flaky/ answers the first request of each file with 206 and later ones
 * with 200 and the whole file, as a misconfigured cache in front of a good server can.
 */
function fileServer(files: Map<string, Uint8Array>) {
  const log: { path: string; status: number; bytes: number }[] = [];
  const seen = new Set<string>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const [, mode, name] = /^\/(range|norange|flaky)\/(.+)$/.exec(url.pathname) ?? [];
    const body = name ? files.get(name) : undefined;
    const send = (status: number, headers: Record<string, string | number>, bytes: Uint8Array) => {
      log.push({ path: url.pathname, status, bytes: bytes.length });
      res.writeHead(status, { 'Content-Length': bytes.length, ...headers });
      res.end(bytes);
    };
    if (!body) return send(404, {}, new Uint8Array(0));
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const ignore = mode === 'norange' || (mode === 'flaky' && seen.has(url.pathname));
    seen.add(url.pathname);
    if (!m || ignore) return send(200, {}, body);
    const first = Number(m[1]);
    const last = Math.min(Number(m[2]), body.length - 1);
    send(206, { 'Content-Range': `bytes ${first}-${last}/${body.length}` }, body.subarray(first, last + 1));
  });
  return { server, log };
}

describe('sources end to end: split files, URLs with Range requests, Blobs', () => {
  const splits = writeGgufSplits(SPEC, 8, 'm'); // 21 tensors: 8 + 8 + 5
  const files = new Map<string, Uint8Array>([['m.gguf', GOOD], ...splits.map((s) => [s.name, s.bytes] as const)]);
  const { server, log } = fileServer(files);
  let base = '';
  let want: Float32Array;
  const weightBytes = randomWeightBytes();

  function randomWeightBytes(): number {
    let n = 0;
    for (const t of SPEC.tensors!) n += t.values!.length * 4;
    return n;
  }

  beforeAll(async () => {
    for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const g = await openGgufPath(join(dir, 'm.gguf'));
    want = await lastLogits(await testGpu(), g);
    await g.close();
  }, 120_000);
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  });

  it('writes three split files with llama.cpp split metadata', async () => {
    expect(splits.map((s) => s.name)).toEqual(['m-00001-of-00003.gguf', 'm-00002-of-00003.gguf', 'm-00003-of-00003.gguf']);
    const g = await openGgufPath(join(dir, 'm-00001-of-00003.gguf'));
    expect(g.files.length).toBe(3);
    expect(g.tensors.map((t) => t.split)).toEqual([...new Array(8).fill(0), ...new Array(8).fill(1), ...new Array(5).fill(2)]);
    expect(g.getU32('split.count')).toBe(3);
    expect(g.getI32('split.tensors.count')).toBe(21);
    await g.close();
  });

  it('split files from paths (named by any part) give the unsplit logits exactly', { timeout: 120_000 }, async () => {
    const gpu = await testGpu();
    for (const part of ['m-00001-of-00003.gguf', 'm-00003-of-00003.gguf']) {
      const g = await openGgufPath(join(dir, part));
      expectSameLogits(await lastLogits(gpu, g), want, `split path ${part}`);
      await g.close();
    }
  });

  it('URLs: split and whole files streamed by Range requests in bounded reads with progress, same logits', { timeout: 120_000 }, async () => {
    const gpu = await testGpu();
    for (const name of ['m-00001-of-00003.gguf', 'm.gguf']) {
      log.length = 0;
      // A probe shorter than any header, so every weight byte is a request of its own in the log.
      const g = await openGgufUrl(`${base}/range/${name}`, { probeBytes: 256, initialWindow: 4096 });
      const headerRequests = log.length;
      const headerBytes = log.reduce((n, r) => n + r.bytes, 0);
      const events: LoadProgress[] = [];
      const chunk = 1024;
      expectSameLogits(await lastLogits(gpu, g, { ...OPTS, readChunkBytes: chunk }, (p) => events.push({ ...p })), want, `URL ${name}`);

      expect(log.every((r) => r.status === 206), `${name}: every answer a 206`).toBe(true);
      const data = log.slice(headerRequests);
      // Each weight byte requested exactly once, never more than one chunk at a time.
      expect(data.reduce((n, r) => n + r.bytes, 0), name).toBe(weightBytes);
      expect(Math.max(...data.map((r) => r.bytes)), name).toBe(chunk);
      // The header came in a few small requests (each split parses its own), never the weights with it.
      expect(Math.max(...log.slice(0, headerRequests).map((r) => r.bytes)), name).toBeLessThanOrEqual(8192);
      expect(headerBytes, name).toBeLessThan(g.files.length * 16384);
      // One progress event per read, growing to the total.
      expect(events.length, name).toBe(data.length);
      expect(events.every((e, i) => e.stage === 'weights' && e.totalBytes === weightBytes && e.loadedBytes > (i ? events[i - 1].loadedBytes : 0)), name).toBe(true);
      expect(events[events.length - 1].loadedBytes, name).toBe(weightBytes);
      // The largest piece of the file held in memory at once is one read: a few KiB of a ~45 KB model.
      expect(Math.max(...log.map((r) => r.bytes)), name).toBeLessThan(GOOD.length / 4);
      await g.close();
    }
  });

  it('Blobs: a whole file and split files in any order give the same logits', { timeout: 120_000 }, async () => {
    const gpu = await testGpu();
    const part = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;
    expectSameLogits(await lastLogits(gpu, await openGgufBlobs([new Blob([part(GOOD)])])), want, 'Blob');
    const blobs = [splits[2], splits[0], splits[1]].map((s) => new File([part(s.bytes)], s.name));
    const g = await openGgufBlobs(blobs);
    expect(g.files.map((f) => f.source.name)).toEqual(splits.map((s) => s.name));
    expectSameLogits(await lastLogits(gpu, g, { ...OPTS, readChunkBytes: 4096 }), want, 'split Blobs');
  });

  it('a server that ignores Range is refused with a clear error, up front or mid-load', { timeout: 120_000 }, async () => {
    let e = await openGgufUrl(`${base}/norange/m.gguf`, { maxWholeDownload: 16 << 10 }).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(GgufSourceError);
    expect(e).toMatchObject({ what: 'range-ignored', status: 200 });
    expect((e as Error).message).toContain(`server ignored the Range request and sent the whole file (${GOOD.length} bytes)`);

    const gpu = await testGpu();
    // The header comes from the first (206) answer; the first weight read gets the 200.
    const g = await openGgufUrl(`${base}/flaky/m.gguf`, { probeBytes: 16 << 10, initialWindow: 4096 });
    e = await loadLanguageModel(gpu, g, OPTS).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(GgufSourceError);
    expect(e).toMatchObject({ what: 'range-ignored', status: 200 });
    expect((e as Error).message).toMatch(/server ignored the Range request for bytes \d+-\d+ and began sending the whole file/);
    expectSameLogits(await lastLogits(gpu, await openGgufUrl(`${base}/range/m.gguf`)), want, 'after the refusal');
  });
});
