// Shapes benchmarked by bench-kernels.ts. Each case allocates its inputs once, records one op, and says
// how many bytes it must move (each input read once, each output written once) and how many
// floating-point operations it does. Shapes are those of real edge-class models (Llama-3.2-1B: d 2048,
// ffn 8192, 32/8 heads of 64; Llama-3.1-8B / Reka Edge: d 4096, ffn 14336, 32/8 heads of 128).

import type { Gpu } from '../src/gpu/gpu.ts';
import type { Recorder } from '../src/gpu/recorder.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { Rng } from '../src/testing/rng.ts';
import { quantize } from '../src/formats/quantize.ts';
import type { GgmlTypeName } from '../src/formats/ggml-types.ts';
import { add } from '../src/kernels/add.ts';
import { matmul, matmulCost } from '../src/kernels/matmul.ts';
import { rmsnorm } from '../src/kernels/norm.ts';
import { rope } from '../src/kernels/rope.ts';
import { attention } from '../src/kernels/attention.ts';
import { swiglu } from '../src/kernels/activation.ts';
import { softmax } from '../src/kernels/softmax.ts';
import { getRows } from '../src/kernels/get-rows.ts';
import { argmax, sample, sampleWorkspace } from '../src/kernels/sample.ts';

export interface BenchInstance {
  record(rec: Recorder): void;
  bytes: number;
  flops: number;
  dispose(): void;
}

export interface BenchCase {
  name: string;
  setup(gpu: Gpu): Promise<BenchInstance>;
}

const rng = new Rng(7);
const releaseAll = (ts: Tensor[]) => () => ts.forEach((t) => t.release());

function matmulCase(type: GgmlTypeName, M: number, N: number, K: number, what: string): BenchCase {
  return {
    name: `matmul ${type} ${M}x${N}x${K} (${what})`,
    async setup(gpu) {
      const x = gpu.upload(rng.f32(M * K), [M, K]);
      const w = gpu.upload(quantize(type, rng.f32(N * K, 0.05)), [N, K], type);
      const o = gpu.tensor([M, N]);
      const c = matmulCost(M, N, K, type);
      return { record: (rec) => matmul(gpu, rec, x, w, o), bytes: c.bytes, flops: c.flops, dispose: releaseAll([x, w, o]) };
    },
  };
}

function attentionCase(T: number, kvLen: number, nHead: number, nKv: number, hd: number, what: string): BenchCase {
  return {
    name: `attention ${nHead}/${nKv}x${hd} T=${T} kv=${kvLen} (${what})`,
    async setup(gpu) {
      const q = gpu.upload(rng.f32(T * nHead * hd), [T, nHead, hd]);
      const k = gpu.upload(rng.f32(kvLen * nKv * hd), [kvLen, nKv, hd]);
      const v = gpu.upload(rng.f32(kvLen * nKv * hd), [kvLen, nKv, hd]);
      const o = gpu.tensor([T, nHead, hd]);
      const opts = { kvLen, pos0: kvLen - T, causal: true };
      // causal prefill visits about half the key/query pairs
      const pairs = T === 1 ? kvLen : T * (kvLen - T) + (T * (T + 1)) / 2;
      return {
        record: (rec) => attention(gpu, rec, q, k, v, o, opts),
        bytes: 4 * (2 * T * nHead * hd + 2 * kvLen * nKv * hd), flops: 4 * pairs * nHead * hd,
        dispose: releaseAll([q, k, v, o]),
      };
    },
  };
}

export const BENCH_CASES: BenchCase[] = [
  ...(['Q4_0', 'Q4_K', 'Q8_0', 'F16'] as const).map((t) => matmulCase(t, 1, 4096, 4096, 'decode, 8B attn_q')),
  matmulCase('Q4_0', 1, 14336, 4096, 'decode, 8B ffn_gate'),
  matmulCase('Q4_K', 1, 14336, 4096, 'decode, 8B ffn_gate'),
  matmulCase('Q6_K', 1, 4096, 14336, 'decode, 8B ffn_down'),
  matmulCase('Q4_0', 1, 8192, 2048, 'decode, 1B ffn_gate'),
  matmulCase('Q4_0', 128, 2048, 2048, 'prefill, 1B attn_q'),
  matmulCase('Q4_K', 128, 2048, 2048, 'prefill, 1B attn_q'),
  attentionCase(1, 1024, 32, 8, 128, 'decode, flash-decoding'),
  attentionCase(1, 4096, 32, 8, 64, 'decode, flash-decoding'),
  attentionCase(128, 128, 32, 8, 64, 'prefill'),
  {
    name: 'rmsnorm [1, 4096] (decode)',
    async setup(gpu) {
      const x = gpu.upload(rng.f32(4096), [1, 4096]), w = gpu.upload(rng.f32(4096), [4096]), o = gpu.tensor([1, 4096]);
      return { record: (rec) => rmsnorm(gpu, rec, x, w, o, { eps: 1e-5 }), bytes: 3 * 4 * 4096, flops: 4 * 4096, dispose: releaseAll([x, w, o]) };
    },
  },
  {
    name: 'rmsnorm [128, 4096] (prefill)',
    async setup(gpu) {
      const n = 128 * 4096;
      const x = gpu.upload(rng.f32(n), [128, 4096]), w = gpu.upload(rng.f32(4096), [4096]), o = gpu.tensor([128, 4096]);
      return { record: (rec) => rmsnorm(gpu, rec, x, w, o, { eps: 1e-5 }), bytes: 8 * n + 4 * 4096, flops: 4 * n, dispose: releaseAll([x, w, o]) };
    },
  },
  {
    name: 'rope neox q [1, 32, 128] (decode)',
    async setup(gpu) {
      const x = gpu.upload(rng.f32(32 * 128), [1, 32, 128]), p = gpu.upload(Uint32Array.of(1234), [1], 'U32'), o = gpu.tensor([1, 32, 128]);
      return { record: (rec) => rope(gpu, rec, x, p, o, { mode: 'neox', nDims: 128, freqBase: 5e5 }), bytes: 8 * 32 * 128, flops: 6 * 32 * 128, dispose: releaseAll([x, p, o]) };
    },
  },
  {
    name: 'swiglu [1, 14336] (decode)',
    async setup(gpu) {
      const g = gpu.upload(rng.f32(14336), [1, 14336]), u = gpu.upload(rng.f32(14336), [1, 14336]), o = gpu.tensor([1, 14336]);
      return { record: (rec) => swiglu(gpu, rec, g, u, o), bytes: 12 * 14336, flops: 6 * 14336, dispose: releaseAll([g, u, o]) };
    },
  },
  {
    name: 'add [1, 4096] (residual, decode)',
    async setup(gpu) {
      const n = 4096;
      const a = gpu.upload(rng.f32(n), [1, n]), b = gpu.upload(rng.f32(n), [1, n]), o = gpu.tensor([1, n]);
      return { record: (rec) => add(gpu, rec, a, b, o), bytes: 12 * n, flops: n, dispose: releaseAll([a, b, o]) };
    },
  },
  {
    name: 'getRows Q4_K [128256, 2048] x 1 (embedding)',
    async setup(gpu) {
      const V = 8192, D = 2048; // a slice of the vocab: one row is read either way
      const t = gpu.upload(quantize('Q4_K', rng.f32(V * D)), [V, D], 'Q4_K'), ids = gpu.upload(Uint32Array.of(4097), [1], 'U32'), o = gpu.tensor([1, D]);
      return { record: (rec) => getRows(gpu, rec, t, ids, o), bytes: (D / 256) * 144 + 4 * D, flops: 2 * D, dispose: releaseAll([t, ids, o]) };
    },
  },
  {
    name: 'softmax [1, 128256] (vocab)',
    async setup(gpu) {
      const n = 128256, x = gpu.upload(rng.f32(n), [1, n]), o = gpu.tensor([1, n]);
      return { record: (rec) => softmax(gpu, rec, x, o), bytes: 12 * n, flops: 5 * n, dispose: releaseAll([x, o]) };
    },
  },
  {
    name: 'argmax [1, 128256] (greedy)',
    async setup(gpu) {
      const n = 128256, x = gpu.upload(rng.f32(n), [1, n]), o = gpu.tensor([1], 'U32');
      return { record: (rec) => argmax(gpu, rec, x, o), bytes: 4 * n, flops: n, dispose: releaseAll([x, o]) };
    },
  },
  {
    name: 'sample top-k 40, top-p 0.95, T 0.8 [1, 128256]',
    async setup(gpu) {
      const n = 128256, x = gpu.upload(rng.f32(n, 3), [1, n]), o = gpu.tensor([1], 'U32'), ws = sampleWorkspace(gpu, 1, n);
      let step = 0;
      return {
        record: (rec) => sample(gpu, rec, x, o, { temperature: 0.8, topK: 40, topP: 0.95, seed: 1, step: step++ }, ws),
        bytes: 4 * n, flops: 10 * n,
        dispose: () => { [x, o].forEach((t) => t.release()); ws.release(); },
      };
    },
  },
];
