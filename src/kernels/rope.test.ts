import { describe, expect, it } from 'vitest';
import { llama3RopeFreqFactors, rope, yarnParams, type RopeOptions } from './rope.ts';
import { llama3FreqFactorsRef, ropeAngleRef, ropeRef, type RopeRefOptions } from '../reference/rope.ts';
import { Rng } from '../testing/rng.ts';
import { expectClose } from '../testing/compare.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { Tensor } from '../gpu/tensor.ts';
import { f16ArrayToF32 } from '../formats/f16.ts';

// The kernel builds the frequency in double-float and reduces the angle modulo one turn exactly, so
// (cos, sin) are within 2e-6 of the double-precision reference for every position below 2^24 (measured
// max 1.7e-6 on SwiftShader). An output is x0*cos - x1*sin with |x| < ~5 here: 5 * 2e-6 plus a few f32
// roundings gives the 1.5e-5 below. A plain f32 angle (pos * f32 freq, GPU sin) is off by ~3e-3 rad
// at position 131071 and by ~1e-4 already at 4095, so these bounds catch it.
const TOL = { atol: 1.5e-5, rtol: 0 };
const ANGLE_TOL = 4e-6;
const POISON = 0x7fc0dead;

type Positions = Uint32Array | Int32Array;

interface Case {
  T: number; nHead: number; headDim: number; opts: Omit<RopeOptions, 'freqFactors'>; ff?: Float32Array; pos?: Positions;
}

function randomPositions(rng: Rng, T: number): Uint32Array {
  const big = [0, 1, 4095, 131071, 65535, 8191];
  const p = new Uint32Array(T);
  for (let t = 0; t < T; t++) p[t] = t < big.length ? big[t] : rng.int(0, 200000);
  return p;
}

function refOpts(c: Case): RopeRefOptions {
  return { ...c.opts, freqFactors: c.ff };
}

async function runCase(gpu: Gpu, rng: Rng, c: Case): Promise<void> {
  const { T, nHead, headDim } = c;
  const x = rng.f32(T * nHead * headDim);
  const pos = c.pos ?? randomPositions(rng, T);
  const tx = gpu.upload(x, [T, nHead, headDim]);
  const tp = gpu.upload(pos, [T], pos instanceof Int32Array ? 'I32' : 'U32');
  const tff = c.ff ? gpu.upload(c.ff, [c.ff.length]) : undefined;
  const out = poisoned(gpu, [T, nHead, headDim]);
  gpu.run((rec) => rope(gpu, rec, tx, tp, out, { ...c.opts, freqFactors: tff }));
  const what = `rope ${c.opts.mode} T${T} h${nHead} d${headDim} n${c.opts.nDims} base ${c.opts.freqBase}`;
  expectClose(await gpu.readF32(out), ropeRef(x, pos, nHead, headDim, refOpts(c)), TOL, what);
  for (const t of [tx, tp, tff, out]) t?.release();
}

const yarn4k = { extFactor: 1, attnFactor: 1, betaFast: 32, betaSlow: 1, nCtxOrig: 4096 };

describe('rope', () => {
  it('matches the reference in both layouts, partial rotary, odd head counts and large positions', async () => {
    const gpu = await testGpu();
    const rng = new Rng(7);
    const cases: Case[] = [
      { T: 4, nHead: 3, headDim: 128, opts: { mode: 'norm', nDims: 128, freqBase: 10000 } },
      { T: 5, nHead: 5, headDim: 64, opts: { mode: 'neox', nDims: 64, freqBase: 1e6 }, pos: new Int32Array([0, 131071, 4095, -5, 1]) },
      { T: 3, nHead: 3, headDim: 80, opts: { mode: 'neox', nDims: 32, freqBase: 10000 } }, // phi-2: 32 of 80 rotate
      { T: 3, nHead: 3, headDim: 80, opts: { mode: 'norm', nDims: 64, freqBase: 10000 } },
      { T: 2, nHead: 2, headDim: 256, opts: { mode: 'neox', nDims: 256, freqBase: 1e6 } }, // 128 pairs: two per lane
      { T: 2, nHead: 3, headDim: 256, opts: { mode: 'norm', nDims: 64, freqBase: 500000 } },
      { T: 7, nHead: 5, headDim: 8, opts: { mode: 'norm', nDims: 8, freqBase: 10000 } },
      { T: 6, nHead: 3, headDim: 8, opts: { mode: 'neox', nDims: 4, freqBase: 10000 } },
      { T: 1, nHead: 32, headDim: 128, opts: { mode: 'neox', nDims: 128, freqBase: 500000 } }, // one decode token
      { T: 3, nHead: 7, headDim: 64, opts: { mode: 'norm', nDims: 64, freqBase: 10000, freqScale: 0.25 } }, // linear x4
      { T: 3, nHead: 3, headDim: 96, opts: { mode: 'neox', nDims: 96, freqBase: 10000, freqScale: 1 / 3 } },
    ];
    for (const c of cases) await runCase(gpu, rng, c);
  });

  it('applies Llama-3 frequency factors', async () => {
    const gpu = await testGpu();
    const rng = new Rng(8);
    const ff = llama3RopeFreqFactors({ factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192, nDims: 128, freqBase: 500000 });
    await runCase(gpu, rng, { T: 6, nHead: 3, headDim: 128, opts: { mode: 'norm', nDims: 128, freqBase: 500000 }, ff });
    await runCase(gpu, rng, { T: 4, nHead: 5, headDim: 64, opts: { mode: 'neox', nDims: 64, freqBase: 10000 }, ff: rng.f32(32).map((v) => 1 + 4 * Math.abs(v)) });
  });

  it('applies YaRN (ramp, extrapolation mix and magnitude scale) in both layouts', async () => {
    const gpu = await testGpu();
    const rng = new Rng(9);
    const y = yarnParams({ factor: 4, originalContextLength: 4096 });
    expect(y).toEqual({ freqScale: 0.25, yarn: yarn4k });
    await runCase(gpu, rng, { T: 6, nHead: 3, headDim: 128, opts: { mode: 'neox', nDims: 128, freqBase: 10000, ...y } });
    await runCase(gpu, rng, { T: 6, nHead: 5, headDim: 64, opts: { mode: 'norm', nDims: 64, freqBase: 1e6, freqScale: 0.25, yarn: { ...yarn4k, attnFactor: 0.8 } } });
    // YaRN on top of frequency factors, with partial rotary
    const ff = rng.f32(24).map((v) => 1 + Math.abs(v));
    await runCase(gpu, rng, { T: 4, nHead: 3, headDim: 80, opts: { mode: 'neox', nDims: 48, freqBase: 10000, freqScale: 0.125, yarn: { ...yarn4k, betaFast: 16, nCtxOrig: 2048 } }, ff });
    // ext_factor 0: no ramp, attn_factor alone scales
    await runCase(gpu, rng, { T: 3, nHead: 3, headDim: 64, opts: { mode: 'norm', nDims: 64, freqBase: 10000, freqScale: 0.5, yarn: { ...yarn4k, extFactor: 0, attnFactor: 0.5 } } });
  });

  it('keeps the angle accurate for positions up to 2^24 - 1', async () => {
    const gpu = await testGpu();
    const positions = [0, 1, 17, 4095, 65535, 131071, 1000003, 16777215];
    const T = positions.length, headDim = 128;
    // x = (1, 0) in every pair, so out is (cos, sin) of each pair's angle
    const x = new Float32Array(T * headDim);
    for (let i = 0; i < x.length; i += 2) x[i] = 1;
    const tx = gpu.upload(x, [T, 1, headDim]);
    const tp = gpu.upload(new Uint32Array(positions), [T], 'U32');
    const ff = llama3RopeFreqFactors({ factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192, nDims: 128, freqBase: 500000 });
    const tff = gpu.upload(ff, [64]);
    const variants: [string, RopeOptions, RopeRefOptions][] = [
      ['base 1e4', { mode: 'norm', nDims: 128, freqBase: 10000 }, { mode: 'norm', nDims: 128, freqBase: 10000 }],
      ['base 1e6, linear 1/3', { mode: 'norm', nDims: 128, freqBase: 1e6, freqScale: 1 / 3 }, { mode: 'norm', nDims: 128, freqBase: 1e6, freqScale: 1 / 3 }],
      ['llama3 factors', { mode: 'norm', nDims: 128, freqBase: 500000, freqFactors: tff }, { mode: 'norm', nDims: 128, freqBase: 500000, freqFactors: ff }],
      ['yarn', { mode: 'norm', nDims: 128, freqBase: 10000, freqScale: 0.25, yarn: yarn4k }, { mode: 'norm', nDims: 128, freqBase: 10000, freqScale: 0.25, yarn: yarn4k }],
    ];
    for (const [name, opts, ref] of variants) {
      const out = poisoned(gpu, [T, 1, headDim]);
      gpu.run((rec) => rope(gpu, rec, tx, tp, out, opts));
      const got = await gpu.readF32(out);
      const exp = new Float32Array(got.length);
      for (let t = 0; t < T; t++) {
        for (let i = 0; i < 64; i++) {
          const a = ropeAngleRef(positions[t], i, ref);
          exp[t * headDim + 2 * i] = a.cos;
          exp[t * headDim + 2 * i + 1] = a.sin;
        }
      }
      expectClose(got, exp, { atol: ANGLE_TOL, rtol: 0 }, `rope angle ${name}`);
      out.release();
    }
    for (const t of [tx, tp, tff]) t.release();
  });

  it('writes at outOffset into a larger buffer and leaves the neighbours alone', async () => {
    const gpu = await testGpu();
    const rng = new Rng(10);
    const [T, nHead, headDim, ctx] = [3, 3, 80, 11];
    const slot = 5; // tokens land in cache rows 5..7 of 11
    const ref = { mode: 'neox', nDims: 64, freqBase: 10000 } as const;
    const opts: RopeOptions = { ...ref, outOffset: slot * nHead * headDim };
    const x = rng.f32(T * nHead * headDim);
    const pos = new Uint32Array([5, 6, 7]);
    const tx = gpu.upload(x, [T, nHead, headDim]);
    const tp = gpu.upload(pos, [T], 'U32');
    const cache = poisoned(gpu, [ctx, nHead, headDim]);
    gpu.run((rec) => rope(gpu, rec, tx, tp, cache, opts));
    const bits = new Uint32Array((await gpu.readF32(cache)).slice().buffer);
    const row = nHead * headDim;
    const untouched = [...bits.subarray(0, slot * row), ...bits.subarray((slot + T) * row)];
    expect(untouched.every((b) => b === POISON)).toBe(true);
    const got = new Float32Array(bits.buffer, slot * row * 4, T * row);
    expectClose(got, ropeRef(x, pos, nHead, headDim, ref), TOL, 'rope into cache slot');
    for (const t of [tx, tp, cache]) t.release();
  });

  it('writes an F16 cache slot (packed words, no shader-f16 needed) in both layouts', async () => {
    const gpu = await testGpu();
    const rng = new Rng(12);
    for (const [mode, nDims, ffOn] of [['norm', 64, false], ['neox', 32, true], ['neox', 80, false], ['norm', 4, false]] as const) {
      const [T, nHead, headDim, ctx, slot] = [3, 5, 80, 9, 4];
      const ref: RopeRefOptions = { mode, nDims, freqBase: 10000, freqScale: 0.5, yarn: yarn4k };
      const ff = ffOn ? rng.f32(nDims / 2).map((v) => 1 + Math.abs(v)) : undefined;
      const x = rng.f32(T * nHead * headDim);
      const pos = randomPositions(rng, T);
      const tx = gpu.upload(x, [T, nHead, headDim]);
      const tp = gpu.upload(pos, [T], 'U32');
      const tff = ff ? gpu.upload(ff, [ff.length]) : undefined;
      const cache = poisoned(gpu, [ctx, nHead, headDim], 'F16');
      const row = nHead * headDim;
      gpu.run((rec) => rope(gpu, rec, tx, tp, cache, { ...ref, freqFactors: tff, outOffset: slot * row }));
      const bytes = await gpu.readBytes(cache);
      const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      const untouched = [...words.subarray(0, (slot * row) / 2), ...words.subarray(((slot + T) * row) / 2)];
      expect(untouched.every((w) => w === POISON)).toBe(true);
      const got = f16ArrayToF32(new Uint16Array(bytes.buffer, bytes.byteOffset + slot * row * 2, T * row));
      // one f16 ulp (2^-10 relative: pack2x16float's rounding mode is not specified) on top of the f32 bound
      expectClose(got, ropeRef(x, pos, nHead, headDim, { ...ref, freqFactors: ff }), { atol: TOL.atol, rtol: 2 ** -10 }, `rope f16 ${mode} n${nDims}`);
      for (const t of [tx, tp, tff, cache]) t?.release();
    }
  });

  it('rotates in place, keeping the pass-through dims', async () => {
    const gpu = await testGpu();
    const rng = new Rng(11);
    for (const [mode, nDims] of [['norm', 32], ['neox', 80]] as const) {
      const [T, nHead, headDim] = [4, 5, 80];
      const x = rng.f32(T * nHead * headDim);
      const pos = randomPositions(rng, T);
      const ff = rng.f32(nDims / 2).map((v) => 1 + Math.abs(v));
      const tx = gpu.upload(x, [T, nHead, headDim]);
      const tp = gpu.upload(pos, [T], 'U32');
      const tff = gpu.upload(ff, [nDims / 2]);
      gpu.run((rec) => rope(gpu, rec, tx, tp, tx, { mode, nDims, freqBase: 10000, freqFactors: tff }));
      expectClose(await gpu.readF32(tx), ropeRef(x, pos, nHead, headDim, { mode, nDims, freqBase: 10000, freqFactors: ff }), TOL, `rope in place ${mode}`);
      for (const t of [tx, tp, tff]) t.release();
    }
  });

  it('computes the Llama-3 factors as the converter does', () => {
    const o = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192, nDims: 128, freqBase: 500000 };
    const got = llama3RopeFreqFactors(o);
    const ref = llama3FreqFactorsRef(8, 1, 4, 8192, 128, 500000);
    expectClose(got, ref, { atol: 0, rtol: 1e-6 }, 'llama3 factors');
    // high frequencies untouched, low ones divided by the factor, a smooth band between
    expect(got[0]).toBe(1);
    expect(got[63]).toBe(8);
    const mid = [...got].filter((v) => v > 1 && v < 8);
    expect(mid.length).toBeGreaterThan(0);
    for (let i = 1; i < 64; i++) expect(got[i]).toBeGreaterThanOrEqual(got[i - 1]);
  });

  it('refuses bad shapes, dtypes and aliasing with typed errors naming the values', async () => {
    const gpu = await testGpu();
    const x = gpu.tensor([4, 3, 64]);
    const pos = gpu.tensor([4], 'U32');
    const out = gpu.tensor([4, 3, 64]);
    const base: RopeOptions = { mode: 'norm', nDims: 64, freqBase: 10000 };
    const call = (o: Partial<RopeOptions>, xx = x, pp = pos, oo = out) => () => gpu.run((rec) => rope(gpu, rec, xx, pp, oo, { ...base, ...o }));
    expect(call({ nDims: 63 })).toThrow(ShapeError);
    expect(call({ nDims: 63 })).toThrow(/rope: nDims 63 must be even/);
    expect(call({ nDims: 66 })).toThrow(/nDims 66 .*headDim 64/);
    expect(call({ nDims: 0 })).toThrow(ShapeError);
    expect(call({}, x, gpu.tensor([5], 'U32'))).toThrow(/positions has 5 elements, x has T = 4/);
    expect(call({}, gpu.tensor([12, 64]))).toThrow(/expected \[T, nHead, headDim\]/);
    expect(call({}, x, pos, gpu.tensor([4, 3, 63]))).toThrow(/out has 756 elements/);
    expect(call({ outOffset: 10 })).toThrow(/needs 10 \+ 768/);
    expect(call({ freqBase: 0 })).toThrow(/freqBase must be a finite number > 0, got 0/);
    expect(call({ freqScale: -1 })).toThrow(ShapeError);
    expect(call({ freqFactors: gpu.tensor([31]) })).toThrow(/freqFactors has 31 elements, needs nDims\/2 = 32/);
    expect(call({}, gpu.tensor([4, 3, 64], 'F16'))).toThrow(UnsupportedDtypeError);
    expect(call({}, x, gpu.tensor([4]))).toThrow(/positions.*F32/);
    expect(call({ freqFactors: gpu.tensor([32], 'F16') })).toThrow(UnsupportedDtypeError);
    expect(call({ nDims: 62 }, x, pos, gpu.tensor([4, 3, 64], 'F16'))).toThrow(/F16 out needs nDims % 4 == 0.*nDims 62/);
    expect(call({ outOffset: 3 }, x, pos, gpu.tensor([8, 3, 64], 'F16'))).toThrow(/outOffset 3/);
    expect(call({ outOffset: 1 }, x, pos, gpu.tensor([4, 3, 64], 'I32'))).toThrow(UnsupportedDtypeError);
    // x is the first half of a cache buffer and out the whole buffer: overlapping, not in place
    const cache = gpu.tensor([8, 3, 64]);
    const xInCache = new Tensor(cache.buffer, [4, 3, 64], 'F32', cache.offset);
    expect(call({ outOffset: 768 }, xInCache, pos, cache)).toThrow(/shares a GPU buffer with x/);
  });
});
