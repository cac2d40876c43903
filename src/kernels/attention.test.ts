import { describe, expect, it } from 'vitest';
import { attention, decodePlan, writeKv, type AttentionOptions } from './attention.ts';
import { attentionRef } from '../reference/attention.ts';
import { Rng } from '../testing/rng.ts';
import { expectClose, type Tolerance } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { f32ToF16Bits, roundF16 } from '../formats/f16.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';

// f32 dot products and online softmax against a double-precision reference: the error is a few f32
// ulps of the logits (|logit| up to ~5 here) carried into probabilities, averaged over values of O(1).
const TOL: Tolerance = { atol: 2e-5, rtol: 1e-4 };

interface Case {
  T: number;
  nHead: number;
  nKvHead: number;
  headDim: number;
  kvLen: number;
  /** Cache rows beyond kvLen are filled with NaN: a kernel that reads them fails. */
  capacity?: number;
  opts: Omit<AttentionOptions, 'kvLen' | 'variant'>;
  f16?: boolean;
  /** Fill the F16 cache with writeKv (two appends) instead of uploading halves. */
  viaWriteKv?: boolean;
}

async function runCase(gpu: Gpu, rng: Rng, c: Case, variant: 'decode' | 'prefill' | 'auto'): Promise<void> {
  const { T, nHead, nKvHead, headDim: D, kvLen } = c;
  const capacity = c.capacity ?? kvLen;
  const q = rng.f32(T * nHead * D);
  const k = rng.f32(capacity * nKvHead * D);
  const v = rng.f32(capacity * nKvHead * D);
  k.fill(NaN, kvLen * nKvHead * D);
  v.fill(NaN, kvLen * nKvHead * D);
  let tk, tv;
  if (c.f16 && c.viaWriteKv) {
    tk = poisoned(gpu, [capacity, nKvHead, D], 'F16');
    tv = poisoned(gpu, [capacity, nKvHead, D], 'F16');
    const rowLen = nKvHead * D;
    const split = Math.floor(kvLen / 3);
    for (const [from, to] of [[0, split], [split, kvLen]]) {
      for (const [a, cache] of [[k, tk], [v, tv]] as const) {
        const src = gpu.upload(a.subarray(from * rowLen, to * rowLen), [to - from, nKvHead, D]);
        gpu.run((rec) => writeKv(gpu, rec, src, cache, { offsetTokens: from }));
        src.release();
      }
    }
    for (const a of [k, v]) for (let i = 0; i < a.length; i++) a[i] = roundF16(a[i]);
  } else if (c.f16) {
    // The reference sees what the cache holds: K and V rounded to f16.
    for (const a of [k, v]) for (let i = 0; i < a.length; i++) a[i] = roundF16(a[i]);
    const bits = (a: Float32Array) => Uint16Array.from(a, (x) => f32ToF16Bits(x));
    tk = gpu.upload(bits(k), [capacity, nKvHead, D], 'F16');
    tv = gpu.upload(bits(v), [capacity, nKvHead, D], 'F16');
  } else {
    tk = gpu.upload(k, [capacity, nKvHead, D]);
    tv = gpu.upload(v, [capacity, nKvHead, D]);
  }
  const tq = gpu.upload(q, [T, nHead, D]);
  const out = poisoned(gpu, [T, nHead, D]);
  const opts: AttentionOptions = { ...c.opts, kvLen, variant };
  gpu.run((rec) => attention(gpu, rec, tq, tk, tv, out, opts));
  const what = `${variant} T${T} h${nHead}/${nKvHead} d${D} kv${kvLen}/${capacity} pos0 ${c.opts.pos0}${c.opts.causal ? ' causal' : ''}` +
    `${c.opts.slidingWindow ? ` win${c.opts.slidingWindow}` : ''}${c.opts.softcap ? ` cap${c.opts.softcap}` : ''}${c.opts.scale ? ` scale${c.opts.scale}` : ''}${c.f16 ? ' f16kv' : ''}`;
  expectClose(await gpu.readF32(out), attentionRef(q, k, v, { T, nHead, nKvHead, headDim: D }, { ...c.opts, kvLen }), TOL, what);
  for (const t of [tq, tk, tv, out]) t.release();
}

describe('attention', () => {
  it('flash-decoding matches the reference: MHA/GQA/MQA, short and long KV, single and split chunks', async () => {
    const gpu = await testGpu();
    const rng = new Rng(11);
    const cases: Case[] = [
      { T: 1, nHead: 3, nKvHead: 3, headDim: 8, kvLen: 1, capacity: 4, opts: { pos0: 0, causal: true } },
      { T: 1, nHead: 8, nKvHead: 4, headDim: 64, kvLen: 33, capacity: 40, opts: { pos0: 32, causal: true } },
      { T: 2, nHead: 6, nKvHead: 2, headDim: 80, kvLen: 300, capacity: 301, opts: { pos0: 298, causal: true } },
      { T: 1, nHead: 5, nKvHead: 1, headDim: 128, kvLen: 2048, capacity: 2050, opts: { pos0: 2047, causal: true } },
      { T: 1, nHead: 8, nKvHead: 4, headDim: 64, kvLen: 300, opts: { pos0: 299, causal: true, slidingWindow: 70 } },
      { T: 1, nHead: 6, nKvHead: 2, headDim: 8, kvLen: 7, opts: { pos0: 6, causal: true, softcap: 2, scale: 1.7 } },
      // A decode step in the middle of a cache (keys beyond pos0 are valid but in the future).
      { T: 1, nHead: 3, nKvHead: 3, headDim: 8, kvLen: 300, opts: { pos0: 150, causal: true } },
    ];
    for (const c of cases) await runCase(gpu, rng, c, 'decode');
  });

  it('the decode plan splits long contexts and keeps short ones in one pass', () => {
    const long = decodePlan({ T: 1, nHead: 5, nKvHead: 1 }, { kvLen: 2048, pos0: 2047, causal: true });
    expect(long.splits).toBe(8);
    expect(long.chunk * long.splits).toBeGreaterThanOrEqual(2048);
    expect(decodePlan({ T: 2, nHead: 6, nKvHead: 2 }, { kvLen: 300, pos0: 298, causal: true }).splits).toBe(2);
    expect(decodePlan({ T: 1, nHead: 8, nKvHead: 4 }, { kvLen: 33, pos0: 32, causal: true }).splits).toBe(1);
    // The window leaves 70 keys: one chunk, starting at the window.
    const win = decodePlan({ T: 1, nHead: 8, nKvHead: 4 }, { kvLen: 300, pos0: 299, causal: true, slidingWindow: 70 });
    expect([win.lo, win.hi, win.splits]).toEqual([230, 300, 1]);
    // GQA group of 4 heads x 3 rows = 12 queries: two sets of 8.
    const g = decodePlan({ T: 3, nHead: 8, nKvHead: 2 }, { kvLen: 10, pos0: 7, causal: true });
    expect([g.queriesPerGroup, g.querySets]).toEqual([8, 2]);
  });

  it('tiled prefill matches the reference: partial tiles, continuing a cache, every tile shape', async () => {
    const gpu = await testGpu();
    const rng = new Rng(12);
    const cases: Case[] = [
      { T: 17, nHead: 8, nKvHead: 4, headDim: 64, kvLen: 17, capacity: 20, opts: { pos0: 0, causal: true } },
      { T: 64, nHead: 6, nKvHead: 2, headDim: 80, kvLen: 300, capacity: 310, opts: { pos0: 236, causal: true } },
      { T: 2, nHead: 5, nKvHead: 1, headDim: 128, kvLen: 33, opts: { pos0: 31, causal: true } },
      { T: 17, nHead: 3, nKvHead: 3, headDim: 256, kvLen: 40, capacity: 41, opts: { pos0: 23, causal: true, slidingWindow: 9, softcap: 3 } },
      { T: 17, nHead: 6, nKvHead: 2, headDim: 8, kvLen: 30, opts: { pos0: 13, causal: true, scale: 0.9 } },
    ];
    for (const c of cases) await runCase(gpu, rng, c, 'prefill');
  });

  it('non-causal (vision encoder) matches the reference in both variants', async () => {
    const gpu = await testGpu();
    const rng = new Rng(13);
    const cases: Case[] = [
      { T: 37, nHead: 3, nKvHead: 3, headDim: 72, kvLen: 37, capacity: 40, opts: { pos0: 0, causal: false } },
      // Rows before the end of the keys see future keys too.
      { T: 5, nHead: 8, nKvHead: 4, headDim: 64, kvLen: 70, opts: { pos0: 3, causal: false, slidingWindow: 4 } },
    ];
    for (const c of cases) for (const variant of ['prefill', 'decode'] as const) await runCase(gpu, rng, c, variant);
  });

  it('window, softcap and custom scale agree across the two variants and the reference', async () => {
    const gpu = await testGpu();
    const rng = new Rng(14);
    const c: Case = { T: 17, nHead: 6, nKvHead: 2, headDim: 64, kvLen: 100, capacity: 128, opts: { pos0: 83, causal: true, slidingWindow: 12, softcap: 1.5, scale: 0.3 } };
    for (const variant of ['prefill', 'decode', 'auto'] as const) await runCase(gpu, rng, c, variant);
  });

  it('a row with no visible key gives 0, not NaN', async () => {
    const gpu = await testGpu();
    const rng = new Rng(15);
    // Non-causal rows at positions 100.. with a window of 5 see none of keys 0..9; kvLen 0 sees nothing.
    const cases: Case[] = [
      { T: 2, nHead: 4, nKvHead: 2, headDim: 8, kvLen: 10, capacity: 12, opts: { pos0: 100, causal: false, slidingWindow: 5 } },
      { T: 3, nHead: 2, nKvHead: 1, headDim: 8, kvLen: 0, capacity: 4, opts: { pos0: 0, causal: false } },
    ];
    for (const c of cases) {
      for (const variant of ['prefill', 'decode'] as const) await runCase(gpu, rng, c, variant);
    }
  });

  it('F16 KV cache (packed halves) matches the reference on f16-rounded K/V', async () => {
    const gpu = await testGpu();
    const rng = new Rng(16);
    // Shapes chosen to share two pipelines (8 queries per decode workgroup, the headDim <= 64 tiles):
    // each new pipeline costs seconds of SwiftShader compile.
    const cases: Case[] = [
      { T: 1, nHead: 8, nKvHead: 1, headDim: 64, kvLen: 300, capacity: 320, f16: true, opts: { pos0: 299, causal: true } },
      { T: 17, nHead: 6, nKvHead: 2, headDim: 60, kvLen: 40, capacity: 44, f16: true, opts: { pos0: 23, causal: true, softcap: 4 } },
      { T: 9, nHead: 3, nKvHead: 3, headDim: 8, kvLen: 9, f16: true, opts: { pos0: 0, causal: false } },
      { T: 12, nHead: 4, nKvHead: 2, headDim: 32, kvLen: 50, capacity: 64, f16: true, viaWriteKv: true, opts: { pos0: 38, causal: true } },
    ];
    for (const c of cases) for (const variant of ['prefill', 'decode'] as const) await runCase(gpu, rng, c, variant);
  });

  it('auto picks flash-decoding for a few rows and the tiled kernel for many', async () => {
    const gpu = await testGpu();
    const count = (T: number, kvLen: number) => {
      const q = gpu.tensor([T, 4, 8]);
      const k = gpu.tensor([kvLen, 2, 8]);
      const out = gpu.tensor([T, 4, 8]);
      const n = gpu.run((rec) => {
        attention(gpu, rec, q, k, k, out, { kvLen, pos0: kvLen - T, causal: true });
        return rec.dispatches;
      });
      for (const t of [q, k, out]) t.release();
      return n;
    };
    expect(count(1, 4096)).toBe(2); // split chunks + reduce
    expect(count(1, 16)).toBe(1); // one chunk writes the output itself
    expect(count(64, 64)).toBe(1); // prefill
    await gpu.sync();
  });

  it('allocates nothing in steady state', async () => {
    const gpu = await testGpu();
    const q = gpu.upload(new Float32Array(2 * 4 * 8).fill(0.5), [2, 4, 8]);
    const k = gpu.upload(new Float32Array(1024 * 2 * 8).fill(0.25), [1024, 2, 8]);
    const out = gpu.tensor([2, 4, 8]);
    const step = () => gpu.run((rec) => attention(gpu, rec, q, k, k, out, { kvLen: 1024, pos0: 1022, causal: true }));
    step();
    await gpu.readF32(out);
    const before = { ...gpu.counters, ...gpu.pool.stats() };
    for (let i = 0; i < 10; i++) step();
    const got = await gpu.readF32(out);
    const after = { ...gpu.counters, ...gpu.pool.stats() };
    expect(after.created).toBe(before.created);
    expect(after.bindGroupsCreated).toBe(before.bindGroupsCreated);
    expect(after.dispatches - before.dispatches).toBe(20);
    expect(Array.from(got).every((x) => Math.abs(x - 0.25) < 1e-6)).toBe(true);
    for (const t of [q, k, out]) t.release();
  });

  it('refuses bad shapes, options and dtypes with typed errors naming the values', async () => {
    const gpu = await testGpu();
    const q = gpu.tensor([2, 8, 64]);
    const out = gpu.tensor([2, 8, 64]);
    const k = gpu.tensor([40, 4, 64]);
    const opts = { kvLen: 40, pos0: 38, causal: true };
    const call = (args: { q?: typeof q; k?: typeof k; v?: typeof k; out?: typeof q; opts?: Partial<AttentionOptions> }) => () =>
      gpu.run((rec) => attention(gpu, rec, args.q ?? q, args.k ?? k, args.v ?? k, args.out ?? out, { ...opts, ...args.opts }));

    expect(call({ k: gpu.tensor([40, 4, 32]), v: gpu.tensor([40, 4, 32]) })).toThrow(/attention: q headDim 64 differs from the cache's 32/);
    expect(call({ k: gpu.tensor([40, 3, 64]), v: gpu.tensor([40, 3, 64]) })).toThrow(/attention: nHead 8 is not a multiple of nKvHead 3/);
    expect(call({ v: gpu.tensor([41, 4, 64]) })).toThrow(/attention: vCache has shape \[41, 4, 64\], expected \[40, 4, 64\]/);
    expect(call({ out: gpu.tensor([2, 8, 63]) })).toThrow(ShapeError);
    expect(call({ opts: { kvLen: 41 } })).toThrow(/attention: kvLen 41 is outside the cache \(capacity 40\)/);
    expect(call({ opts: { kvLen: 39 } })).toThrow(/attention: causal rows reach position 39 but kvLen is 39/);
    expect(call({ opts: { slidingWindow: 2.5 } })).toThrow(/slidingWindow 2.5/);
    expect(call({ opts: { softcap: -1 } })).toThrow(/softcap -1/);
    const odd = { q: gpu.tensor([1, 2, 6]), out: gpu.tensor([1, 2, 6]), k: gpu.tensor([4, 2, 6]), v: gpu.tensor([4, 2, 6]) };
    expect(call({ ...odd, opts: { kvLen: 4, pos0: 0 } })).toThrow(/attention: headDim 6 is not supported/);
    const big = { q: gpu.tensor([1, 1, 260]), out: gpu.tensor([1, 1, 260]), k: gpu.tensor([4, 1, 260]), v: gpu.tensor([4, 1, 260]) };
    expect(call({ ...big, opts: { kvLen: 4, pos0: 0 } })).toThrow(/attention: headDim 260 is not supported/);

    expect(call({ k: gpu.tensor([40, 4, 64], 'Q8_0'), v: gpu.tensor([40, 4, 64], 'Q8_0') })).toThrow(UnsupportedDtypeError);
    expect(call({ v: gpu.tensor([40, 4, 64], 'F16') })).toThrow(/attention \(vCache, kCache is F32\): dtype F16 is not supported/);
    expect(call({ q: gpu.tensor([2, 8, 64], 'F16') })).toThrow(UnsupportedDtypeError);
    await gpu.sync();
  });
});
