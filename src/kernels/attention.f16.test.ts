// attention with F16 q and out (shader-f16) on lavapipe, over F32 and packed-F16 caches.
import { afterAll, describe, expect, it } from 'vitest';
import { attention, decodePlan, type AttentionOptions } from './attention.ts';
import { attentionRef } from '../reference/attention.ts';
import { f32ToF16Bits } from '../formats/f16.ts';
import { Rng } from '../testing/rng.ts';
import { testGpu } from '../testing/gpu.ts';
import { expectWithin, poisonedF16, readF16, reportF16Margins, roundedF16, roundedOnceBound, uploadF16 } from '../testing/f16.ts';
import { UnsupportedDtypeError } from '../gpu/errors.ts';

afterAll(() => reportF16Margins('attention'));

// Everything between the f16 q and the f16 out is the F32 path's f32 arithmetic (attention.test.ts:
// 2e-5 absolute + 1e-4 relative against the double reference), on the f16-rounded q and cache; the
// output is then rounded to f16 once.
const TOL = { atol: 2e-5, rtol: 1e-4 };

interface Case {
  T: number; nHead: number; nKvHead: number; headDim: number; kvLen: number; f16kv: boolean;
  variant: 'decode' | 'prefill'; opts: Omit<AttentionOptions, 'kvLen' | 'variant'>;
}

async function check(c: Case, rng: Rng): Promise<void> {
  const gpu = await testGpu();
  const { T, nHead, nKvHead, headDim: D, kvLen } = c;
  const capacity = kvLen + 3;
  // Rows past kvLen hold NaN: a kernel that reads them fails.
  let k = rng.f32(capacity * nKvHead * D).fill(NaN, kvLen * nKvHead * D);
  let v = rng.f32(capacity * nKvHead * D).fill(NaN, kvLen * nKvHead * D);
  let tk, tv;
  if (c.f16kv) {
    k = roundedF16(k);
    v = roundedF16(v);
    tk = gpu.upload(Uint16Array.from(k, f32ToF16Bits), [capacity, nKvHead, D], 'F16');
    tv = gpu.upload(Uint16Array.from(v, f32ToF16Bits), [capacity, nKvHead, D], 'F16');
  } else {
    tk = gpu.upload(k, [capacity, nKvHead, D]);
    tv = gpu.upload(v, [capacity, nKvHead, D]);
  }
  const q = uploadF16(gpu, rng.f32(T * nHead * D), [T, nHead, D], 'q');
  const out = poisonedF16(gpu, [T, nHead, D]);
  gpu.run((rec) => attention(gpu, rec, q.t, tk, tv, out, { ...c.opts, kvLen, variant: c.variant }));
  const ref = attentionRef(q.v, k, v, { T, nHead, nKvHead, headDim: D }, { ...c.opts, kvLen });
  const what = `attention/${c.variant} T${T} h${nHead}/${nKvHead} d${D} kv${kvLen} pos0 ${c.opts.pos0}${c.opts.causal ? ' causal' : ''}` +
    `${c.opts.slidingWindow ? ` win${c.opts.slidingWindow}` : ''}${c.opts.softcap ? ` cap${c.opts.softcap}` : ''}${c.f16kv ? ' f16kv' : ''}`;
  expectWithin(await readF16(gpu, out), ref, roundedOnceBound(ref, TOL), what);
  for (const t of [q.t, tk, tv, out]) t.release();
}

describe('attention with F16 q and out', () => {
  it('flash-decoding: one chunk (the kernel writes F16 out) and several (the reduce does)', async () => {
    const rng = new Rng(1671);
    const one: Case = { T: 1, nHead: 6, nKvHead: 2, headDim: 64, kvLen: 37, f16kv: true, variant: 'decode', opts: { pos0: 36, causal: true } };
    const many: Case = { T: 2, nHead: 4, nKvHead: 2, headDim: 64, kvLen: 700, f16kv: false, variant: 'decode', opts: { pos0: 698, causal: true, slidingWindow: 600 } };
    expect(decodePlan(one, { ...one.opts, kvLen: one.kvLen }).splits).toBe(1);
    expect(decodePlan(many, { ...many.opts, kvLen: many.kvLen }).splits).toBeGreaterThan(1);
    await check(one, rng);
    await check({ ...one, nHead: 2, kvLen: 5, opts: { pos0: 0, causal: false, softcap: 30 } }, rng);
    await check(many, rng);
  });

  it('tiled prefill: causal with a window over an F16 cache, and head dim 128 with softcap', async () => {
    const rng = new Rng(1672);
    await check({ T: 19, nHead: 3, nKvHead: 1, headDim: 64, kvLen: 23, f16kv: true, variant: 'prefill', opts: { pos0: 4, causal: true, slidingWindow: 7 } }, rng);
    await check({ T: 9, nHead: 2, nKvHead: 2, headDim: 128, kvLen: 9, f16kv: false, variant: 'prefill', opts: { pos0: 0, causal: false, softcap: 20, scale: 0.1 } }, rng);
  });

  it('refuses an F16 q with an F32 out', async () => {
    const gpu = await testGpu();
    const kc = gpu.tensor([8, 2, 64], 'F16');
    const call = () => gpu.run((rec) => attention(gpu, rec, gpu.tensor([1, 2, 64], 'F16'), kc, kc, gpu.tensor([1, 2, 64]), { kvLen: 8, pos0: 7, causal: true }));
    expect(call).toThrow(UnsupportedDtypeError);
    expect(call).toThrow(/attention \(out, q is F16/);
  });
});
