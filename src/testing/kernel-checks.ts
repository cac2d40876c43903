// Kernel self-checks that run anywhere a Gpu exists: the browser test and the demo page run them in
// Chromium, proving the browser path computes what the references compute.

import type { Gpu } from '../gpu/gpu.ts';
import { compareArrays } from './compare.ts';
import { Rng } from './rng.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Recorder } from '../gpu/recorder.ts';
import type { GgmlTypeName } from '../formats/ggml-types.ts';
import { dequantize, quantize } from '../formats/quantize.ts';
import { add } from '../kernels/add.ts';
import { addRef } from '../reference/add.ts';
import { matmul } from '../kernels/matmul.ts';
import { matmulRef } from '../reference/matmul.ts';
import { rmsnorm } from '../kernels/norm.ts';
import { rmsNormRef } from '../reference/norm.ts';
import { rope } from '../kernels/rope.ts';
import { ropeRef } from '../reference/rope.ts';
import { attention } from '../kernels/attention.ts';
import { attentionRef } from '../reference/attention.ts';
import { swiglu } from '../kernels/activation.ts';
import { swigluRef } from '../reference/activation.ts';
import { softmax } from '../kernels/softmax.ts';
import { softmaxRef } from '../reference/softmax.ts';
import { getRows } from '../kernels/get-rows.ts';
import { getRowsRef } from '../reference/get-rows.ts';
import { argmax, sample, sampleWorkspace } from '../kernels/sample.ts';
import { argmaxRef, sampleRowRef } from '../reference/sample.ts';

export interface CheckResult {
  name: string;
  ok: boolean;
  message: string;
  ms: number;
}

export interface KernelCheck {
  name: string;
  run(gpu: Gpu, rng: Rng): Promise<string>; // throws on mismatch, returns a summary
}

async function expectGpu(actual: Float32Array, expected: ArrayLike<number>, atol: number, rtol: number, what: string): Promise<string> {
  const r = compareArrays(actual, expected, { atol, rtol }, what);
  if (!r.ok) throw new Error(r.message);
  return r.message;
}

/** Run one op into a NaN-poisoned output and read it back; inputs and output go back to the pool. */
async function runOp(gpu: Gpu, inputs: Tensor[], out: Tensor, record: (rec: Recorder) => void): Promise<Float32Array> {
  gpu.poison(out);
  gpu.run(record);
  const got = await gpu.readF32(out);
  for (const t of [...inputs, out]) t.release();
  return got;
}

function matmulCheck(type: GgmlTypeName, M: number, N: number, K: number): KernelCheck {
  return {
    name: `matmul ${type} ${M}x${N}x${K} (${M <= 8 ? 'gemv' : 'gemm'})`,
    async run(gpu, rng) {
      const x = rng.f32(M * K), wf = rng.f32(N * K, 0.5);
      const wq = quantize(type, wf);
      const tx = gpu.upload(x, [M, K]), tw = gpu.upload(wq, [N, K], type), out = gpu.tensor([M, N]);
      const got = await runOp(gpu, [tx, tw], out, (rec) => matmul(gpu, rec, tx, tw, out));
      const want = matmulRef(x, dequantize(type, wq, N * K), M, N, K);
      return expectGpu(got, want, 2e-4 * Math.sqrt(K), 1e-5, `matmul ${type}`);
    },
  };
}

export const KERNEL_CHECKS: KernelCheck[] = [
  {
    name: 'add (broadcast, 37x1001)',
    async run(gpu, rng) {
      const a = rng.f32(37 * 1001), b = rng.f32(1001);
      const ta = gpu.upload(a, [37, 1001]), tb = gpu.upload(b, [1001]);
      const out = gpu.tensor([37, 1001]);
      gpu.poison(out);
      gpu.run((rec) => add(gpu, rec, ta, tb, out));
      const got = await gpu.readF32(out);
      [ta, tb, out].forEach((t) => t.release());
      return expectGpu(got, addRef(a, b), 0, 0, 'add');
    },
  },
  ...(['F32', 'F16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q4_K', 'Q5_K', 'Q6_K'] as const).map((t) => matmulCheck(t, 1, 67, 512)),
  matmulCheck('Q4_0', 33, 70, 256),
  matmulCheck('Q6_K', 19, 45, 512),
  {
    name: 'rmsnorm 5x1001',
    async run(gpu, rng) {
      const n = 1001, x = rng.f32(5 * n), w = rng.f32(n);
      const tx = gpu.upload(x, [5, n]), tw = gpu.upload(w, [n]), out = gpu.tensor([5, n]);
      const got = await runOp(gpu, [tx, tw], out, (rec) => rmsnorm(gpu, rec, tx, tw, out, { eps: 1e-5 }));
      return expectGpu(got, rmsNormRef(x, n, w, 1e-5), 1e-6, 1e-5, 'rmsnorm');
    },
  },
  {
    name: 'rope neox, 3 tokens x 5 heads x 64, partial 32',
    async run(gpu, rng) {
      const T = 3, H = 5, D = 64, x = rng.f32(T * H * D), pos = [0, 17, 4095];
      const o = { mode: 'neox' as const, nDims: 32, freqBase: 1e6 };
      const tx = gpu.upload(x, [T, H, D]), tp = gpu.upload(Uint32Array.from(pos), [T], 'U32'), out = gpu.tensor([T, H, D]);
      const got = await runOp(gpu, [tx, tp], out, (rec) => rope(gpu, rec, tx, tp, out, o));
      return expectGpu(got, ropeRef(x, pos, H, D, o), 1e-5, 0, 'rope');
    },
  },
  ...([1, 24] as const).map((T): KernelCheck => ({
    name: `attention GQA 6/2 x 64, T=${T}, kv=${T === 1 ? 300 : 40} (${T === 1 ? 'flash-decoding' : 'prefill'})`,
    async run(gpu, rng) {
      const nHead = 6, nKv = 2, hd = 64, kvLen = T === 1 ? 300 : 40, pos0 = kvLen - T;
      const q = rng.f32(T * nHead * hd), k = rng.f32(kvLen * nKv * hd), v = rng.f32(kvLen * nKv * hd);
      const tq = gpu.upload(q, [T, nHead, hd]), tk = gpu.upload(k, [kvLen, nKv, hd]), tv = gpu.upload(v, [kvLen, nKv, hd]);
      const out = gpu.tensor([T, nHead, hd]);
      const opts = { kvLen, pos0, causal: true };
      const got = await runOp(gpu, [tq, tk, tv], out, (rec) => attention(gpu, rec, tq, tk, tv, out, opts));
      return expectGpu(got, attentionRef(q, k, v, { T, nHead, nKvHead: nKv, headDim: hd }, opts), 2e-5, 1e-4, 'attention');
    },
  })),
  {
    name: 'swiglu 7x173',
    async run(gpu, rng) {
      const n = 7 * 173, g = rng.f32(n), u = rng.f32(n);
      const tg = gpu.upload(g, [7, 173]), tu = gpu.upload(u, [7, 173]), out = gpu.tensor([7, 173]);
      const got = await runOp(gpu, [tg, tu], out, (rec) => swiglu(gpu, rec, tg, tu, out));
      return expectGpu(got, swigluRef(g, u, 173), 1e-5, 1e-5, 'swiglu');
    },
  },
  {
    name: 'softmax 2x32000',
    async run(gpu, rng) {
      const n = 32000, x = rng.f32(2 * n, 6);
      const tx = gpu.upload(x, [2, n]), out = gpu.tensor([2, n]);
      const got = await runOp(gpu, [tx], out, (rec) => softmax(gpu, rec, tx, out));
      return expectGpu(got, softmaxRef(x, n), 1e-30, 1e-5, 'softmax');
    },
  },
  {
    name: 'getRows Q4_K table 300x256',
    async run(gpu, rng) {
      const V = 300, D = 256, table = quantize('Q4_K', rng.f32(V * D)), ids = Uint32Array.from([0, 299, 17, 17, 5]);
      const tt = gpu.upload(table, [V, D], 'Q4_K'), ti = gpu.upload(ids, [ids.length], 'U32'), out = gpu.tensor([ids.length, D]);
      const got = await runOp(gpu, [tt, ti], out, (rec) => getRows(gpu, rec, tt, ti, out));
      return expectGpu(got, getRowsRef('Q4_K', table, V, D, ids), 5e-7, 2.5e-7, 'getRows');
    },
  },
  {
    name: 'argmax and top-k/top-p sampling, vocab 32000',
    async run(gpu, rng) {
      const V = 32000, x = rng.f32(V, 3);
      const tx = gpu.upload(x, [1, V]), out = gpu.tensor([1], 'U32'), ws = sampleWorkspace(gpu, 1, V);
      gpu.run((rec) => argmax(gpu, rec, tx, out));
      const am = (await gpu.readU32(out))[0];
      const want = argmaxRef(x, 1, V)[0];
      if (am !== want) throw new Error(`argmax ${am}, expected ${want}`);
      const opts = { temperature: 0.8, topK: 40, topP: 0.9, seed: 7, step: 3 };
      gpu.run((rec) => sample(gpu, rec, tx, out, opts, ws));
      const tok = (await gpu.readU32(out))[0];
      const ref = sampleRowRef(x, opts, 0);
      [tx, out].forEach((t) => t.release());
      ws.release();
      if (tok !== ref.token && ref.drawMargin > 1e-4) throw new Error(`sampled ${tok}, reference ${ref.token}`);
      return `argmax ${am}; sampled ${tok} (reference ${ref.token}, ${ref.kept.length} kept)`;
    },
  },
];

export async function runKernelChecks(gpu: Gpu, onResult?: (r: CheckResult) => void, seed = 1234): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const c of KERNEL_CHECKS) {
    const t0 = performance.now();
    let r: CheckResult;
    try {
      const message = await c.run(gpu, new Rng(seed));
      await gpu.sync();
      r = { name: c.name, ok: true, message, ms: performance.now() - t0 };
    } catch (e) {
      r = { name: c.name, ok: false, message: (e as Error).message, ms: performance.now() - t0 };
    }
    results.push(r);
    onResult?.(r);
  }
  return results;
}
