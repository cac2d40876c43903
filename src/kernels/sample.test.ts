import { describe, expect, it } from 'vitest';
import { argmax, sample, sampleWorkspace, type SampleOptions } from './sample.ts';
import { argmaxRef, sampleRowRef, uniformDraw } from '../reference/sample.ts';
import { Rng } from '../testing/rng.ts';
import { poisoned, testGpu } from '../testing/gpu.ts';
import { ShapeError, UnsupportedDtypeError } from '../gpu/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';

// Tolerance: token ids are compared exactly. Argmax and top-k only compare and count, so they must match
// the reference bit for bit. The draw and the top-p cut compare f32 GPU sums (exp is approximate in WGSL)
// with f64 reference sums: where the reference says u * total or p * Z lies within BOUNDARY of a
// cumulative boundary, a different token is a rounding tie, not a bug; such rows are excluded and
// counted, and the count must stay small.
const BOUNDARY = 2e-5;

async function runSample(gpu: Gpu, logits: Float32Array, rows: number, vocab: number, opts: SampleOptions): Promise<Uint32Array> {
  const t = gpu.upload(logits, [rows, vocab]);
  const out = poisoned(gpu, [rows], 'U32');
  const ws = sampleWorkspace(gpu, rows, vocab);
  gpu.run((rec) => sample(gpu, rec, t, out, opts, ws));
  const got = await gpu.readU32(out);
  ws.release();
  t.release();
  out.release();
  return got.slice();
}

async function runArgmax(gpu: Gpu, logits: Float32Array, rows: number, vocab: number): Promise<Uint32Array> {
  const t = gpu.upload(logits, [rows, vocab]);
  const out = poisoned(gpu, [rows], 'U32');
  gpu.run((rec) => argmax(gpu, rec, t, out));
  const got = await gpu.readU32(out);
  t.release();
  out.release();
  return got.slice();
}

/** Logits on a grid of `step` (0 for continuous) so that equal values, and ties at the cuts, are common. */
function logitsFor(rng: Rng, n: number, scale: number, step = 0): Float32Array {
  const x = rng.f32(n, scale);
  if (step > 0) for (let i = 0; i < n; i++) x[i] = Math.round(x[i] / step) * step;
  return x;
}

describe('argmax', () => {
  it('matches the reference on random rows of awkward sizes', async () => {
    const gpu = await testGpu();
    const rng = new Rng(11);
    for (const [rows, vocab] of [[1, 1], [1, 100], [3, 1001], [2, 2048], [5, 5003], [1, 32000], [1, 151936], [2, 6000]]) {
      const x = logitsFor(rng, rows * vocab, 4, rows === 2 ? 0.5 : 0);
      expect(Array.from(await runArgmax(gpu, x, rows, vocab)), `${rows}x${vocab}`).toEqual(Array.from(argmaxRef(x, rows, vocab)));
    }
  });

  it('handles ties, infinities and NaN like the greedy sampler (first max wins, NaN never)', async () => {
    const gpu = await testGpu();
    for (const vocab of [100, 4099]) {
      const cases: [string, (x: Float32Array) => void, number][] = [
        ['max at 0', (x) => { x[0] = 9; }, 0],
        ['max at last', (x) => { x[vocab - 1] = 9; }, vocab - 1],
        ['ties take the lowest index', (x) => { x[vocab - 3] = 9; x[37] = 9; x[vocab - 1] = 9; }, 37],
        ['NaN never wins', (x) => { x[0] = NaN; x[5] = NaN; x[vocab - 1] = NaN; x[50] = 9; }, 50],
        ['NaN everywhere but one', (x) => { x.fill(NaN); x[vocab - 2] = -1e30; }, vocab - 2],
        ['all NaN gives 0', (x) => { x.fill(NaN); }, 0],
        ['all -Inf gives the first', (x) => { x.fill(-Infinity); }, 0],
        ['-Inf with one finite', (x) => { x.fill(-Infinity); x[77] = -3e38; }, 77],
        ['+Inf wins, first of them', (x) => { x[90] = Infinity; x[60] = Infinity; }, 60],
        ['-0 and +0 tie', (x) => { x.fill(-1); x[8] = -0; x[4] = 0; }, 4],
      ];
      const rows = cases.length;
      const x = new Float32Array(rows * vocab);
      const rng = new Rng(5);
      cases.forEach(([, f], r) => {
        const row = x.subarray(r * vocab, (r + 1) * vocab);
        row.set(rng.f32(vocab));
        f(row);
      });
      const got = await runArgmax(gpu, x, rows, vocab);
      const ref = argmaxRef(x, rows, vocab);
      cases.forEach(([name, , want], r) => {
        expect(ref[r], `reference ${name}`).toBe(want);
        expect(got[r], `${name} (vocab ${vocab})`).toBe(want);
      });
    }
  });
});

describe('sample', () => {
  it('picks the reference token for many (seed, step), excluding only rounding ties', async () => {
    const gpu = await testGpu();
    const rng = new Rng(21);
    const configs: [string, number, number, number, Omit<SampleOptions, 'seed' | 'step' | 'penaltyTokens'>][] = [
      // name, rows, vocab, logit grid step (ties), options
      ['default chain', 10, 1000, 0, { temperature: 0.8, topK: 40, topP: 0.9, minP: 0.05 }],
      ['top-k ties, 2 chunks', 8, 2100, 0.5, { temperature: 1, topK: 100 }],
      ['top-p only, 3 chunks', 4, 5003, 0, { temperature: 1, topP: 0.95 }],
      ['top-p ties', 8, 1500, 0.25, { temperature: 1.2, topP: 0.7 }],
      ['top-k then top-p', 8, 1200, 0.25, { temperature: 0.9, topK: 300, topP: 0.8 }],
      ['min-p only', 8, 1001, 0, { temperature: 0.7, minP: 0.1 }],
      ['temperature only', 8, 777, 0, { temperature: 1.5 }],
    ];
    let compared = 0, excluded = 0;
    for (const [name, rows, vocab, grid, base] of configs) {
      const x = logitsFor(rng, rows * vocab, 2.5, grid);
      for (const [seed, step] of [[1, 0], [987654321, 77]]) {
        const opts = { ...base, seed, step };
        const got = await runSample(gpu, x, rows, vocab, opts);
        for (let r = 0; r < rows; r++) {
          const ref = sampleRowRef(x.subarray(r * vocab, (r + 1) * vocab), opts, r);
          if (ref.topPMargin < BOUNDARY || ref.drawMargin < BOUNDARY) {
            excluded++;
            continue;
          }
          compared++;
          expect(got[r], `${name} row ${r} seed ${seed} step ${step}: kept ${ref.kept.length}`).toBe(ref.token);
        }
      }
    }
    expect(excluded / (compared + excluded), `excluded ${excluded} of ${compared + excluded}`).toBeLessThan(0.05); // 2 of 108 rows with these seeds
  });

  it('top-k = 1 and a tiny top-p give the argmax; min-p keeps only tokens near the max', async () => {
    const gpu = await testGpu();
    const rng = new Rng(31);
    const rows = 6, vocab = 1500;
    const x = logitsFor(rng, rows * vocab, 3, 0.5); // ties at the max are common on this grid
    const greedy = Array.from(argmaxRef(x, rows, vocab));
    for (const step of [0, 1]) {
      expect(Array.from(await runSample(gpu, x, rows, vocab, { temperature: 1, topK: 1, seed: 3, step }))).toEqual(greedy);
      // topP > 0 takes the full radix-select path (no greedy shortcut).
      expect(Array.from(await runSample(gpu, x, rows, vocab, { temperature: 5, topP: 1e-6, seed: 3, step }))).toEqual(greedy);
      expect(Array.from(await runSample(gpu, x, rows, vocab, { temperature: 5, topK: 2, topP: 1e-6, seed: 3, step }))).toEqual(greedy);
    }
    // min-p 0.3 at high temperature on dense logits: every token drawn must lie within logf(0.3) of its
    // row's max, and the draw must still spread over several of them.
    const xm = logitsFor(rng, rows * vocab, 1, 0.25);
    const greedyM = argmaxRef(xm, rows, vocab);
    const got = await runSample(gpu, xm, rows, vocab, { temperature: 50, minP: 0.3, seed: 4, step: 0 });
    let notMax = 0;
    for (let r = 0; r < rows; r++) {
      const row = xm.subarray(r * vocab, (r + 1) * vocab);
      const max = row[greedyM[r]];
      expect(row[got[r]], `row ${r}`).toBeGreaterThanOrEqual(Math.fround(max + Math.fround(Math.log(0.3))));
      if (row[got[r]] !== max) notMax++;
    }
    expect(notMax, 'min-p 0.3 still leaves a choice').toBeGreaterThan(0);
  });

  it('applies repetition, frequency and presence penalties as llama.cpp does', async () => {
    const gpu = await testGpu();
    const vocab = 50;
    const base = new Float32Array(vocab).fill(-5);
    base[5] = 3; base[9] = 2.5; base[12] = 2.2; base[20] = -0.5; base[21] = -0.6;
    const cases: [string, number[], Pick<SampleOptions, 'repetitionPenalty' | 'frequencyPenalty' | 'presencePenalty'>, number][] = [
      ['no penalty', [5], {}, 5],
      ['repetition divides a positive logit', [5], { repetitionPenalty: 1.5 }, 9], // 3 / 1.5 = 2 < 2.5
      ['frequency counts every repeat', [5, 5, 5, 9], { frequencyPenalty: 0.4 }, 12], // 3-1.2, 2.5-0.4 < 2.2
      ['presence counts once', [5, 5, 5, 9], { presencePenalty: 0.6 }, 5], // 3-0.6 > 2.2
    ];
    const negRow = new Float32Array(vocab).fill(-5);
    negRow[20] = -0.5; negRow[21] = -0.6;
    for (const [name, toks, pen, want] of cases) {
      const tok = gpu.upload(new Uint32Array(toks), [toks.length], 'U32');
      const logits = gpu.upload(base, [1, vocab]);
      const out = poisoned(gpu, [1], 'U32');
      const ws = sampleWorkspace(gpu, 1, vocab);
      gpu.run((rec) => sample(gpu, rec, logits, out, { temperature: 0, seed: 0, step: 0, penaltyTokens: tok, ...pen }, ws));
      const got = (await gpu.readU32(out))[0];
      const ref = sampleRowRef(base, { temperature: 0, seed: 0, step: 0, penaltyTokens: toks, ...pen }, 0).token;
      expect(ref, `reference: ${name}`).toBe(want);
      expect(got, name).toBe(want);
      for (const t of [tok, logits, out]) t.release();
      ws.release();
    }
    // A negative logit is multiplied: -0.5 * 1.5 = -0.75 drops below -0.6.
    const tok = gpu.upload(new Uint32Array([20]), [1], 'U32');
    const logits = gpu.upload(negRow, [1, vocab]);
    const out = poisoned(gpu, [1], 'U32');
    const ws = sampleWorkspace(gpu, 1, vocab);
    gpu.run((rec) => sample(gpu, rec, logits, out, { temperature: 0, seed: 0, step: 0, penaltyTokens: tok, repetitionPenalty: 1.5 }, ws));
    expect((await gpu.readU32(out))[0]).toBe(21);
    for (const t of [tok, logits, out]) t.release();
    ws.release();
  });

  it('matches the reference with per-row penalty lists and the full chain', async () => {
    const gpu = await testGpu();
    const rng = new Rng(41);
    const rows = 6, vocab = 2001, n = 64;
    const x = logitsFor(rng, rows * vocab, 2, 0);
    // Recent tokens favour the likely ones so the penalties move probability mass.
    const toks = new Uint32Array(rows * n);
    for (let r = 0; r < rows; r++) {
      const top = argmaxRef(x.subarray(r * vocab, (r + 1) * vocab), 1, vocab)[0];
      for (let j = 0; j < n; j++) toks[r * n + j] = j % 3 === 0 ? top : rng.int(0, vocab + 5); // ids >= vocab are ignored
    }
    const pen = { repetitionPenalty: 1.3, frequencyPenalty: 0.2, presencePenalty: 0.4 };
    const tTok = gpu.upload(toks, [rows, n], 'U32');
    const logits = gpu.upload(x, [rows, vocab]);
    const out = poisoned(gpu, [rows], 'U32');
    const ws = sampleWorkspace(gpu, rows, vocab);
    let compared = 0;
    for (const step of [0, 1, 2]) {
      const opts: SampleOptions = { temperature: 0.9, topK: 50, topP: 0.9, minP: 0.02, seed: 99, step, penaltyTokens: tTok, ...pen };
      gpu.run((rec) => sample(gpu, rec, logits, out, opts, ws));
      const got = await gpu.readU32(out);
      for (let r = 0; r < rows; r++) {
        const ref = sampleRowRef(x.subarray(r * vocab, (r + 1) * vocab), { ...opts, penaltyTokens: toks.subarray(r * n, (r + 1) * n) }, r);
        if (ref.topPMargin < BOUNDARY || ref.drawMargin < BOUNDARY) continue;
        compared++;
        expect(got[r], `row ${r} step ${step}`).toBe(ref.token);
      }
    }
    expect(compared).toBeGreaterThan(12);
    // The caller's logits are untouched (penalties work on a copy).
    expect(Array.from(await gpu.readF32(logits))).toEqual(Array.from(x));
    for (const t of [tTok, logits, out]) t.release();
    ws.release();
  });

  it('draws from softmax(x / T): chi-square over 600 draws on an 8-token vocabulary', async () => {
    const gpu = await testGpu();
    const vocab = 8, rows = 600, temp = 0.7;
    const row = new Float32Array([1.0, 0.2, -0.5, 1.3, 0.0, -1.0, 0.9, 0.4]) // smallest expected count ~8;
    const x = new Float32Array(rows * vocab);
    for (let r = 0; r < rows; r++) x.set(row, r * vocab);
    const got = await runSample(gpu, x, rows, vocab, { temperature: temp, seed: 2024, step: 5 });
    const counts = new Array<number>(vocab).fill(0);
    for (const t of got) counts[t]++;
    const w = Array.from(row, (v) => Math.exp(v / temp));
    const z = w.reduce((a, b) => a + b, 0);
    let chi2 = 0;
    for (let i = 0; i < vocab; i++) {
      const e = (rows * w[i]) / z;
      chi2 += (counts[i] - e) ** 2 / e;
    }
    // 7 degrees of freedom: P(chi2 > 24.32) = 0.001. Fixed seed, so the outcome is fixed too.
    expect(chi2, `counts ${counts.join(',')}`).toBeLessThan(24.32);
    // The draws themselves are uniform: the same check on u over 8 equal bins.
    const bins = new Array<number>(8).fill(0);
    for (let r = 0; r < rows; r++) bins[Math.floor(uniformDraw(2024, 5, r) * 8)]++;
    const chiU = bins.reduce((a, c) => a + (c - rows / 8) ** 2 / (rows / 8), 0);
    expect(chiU).toBeLessThan(24.32);
  });

  it('is a pure function of (seed, step, row) and allocates nothing in steady state', async () => {
    const gpu = await testGpu();
    const rng = new Rng(51);
    const rows = 2, vocab = 2100, n = 16;
    const x = logitsFor(rng, rows * vocab, 2);
    const logits = gpu.upload(x, [rows, vocab]);
    const tok = gpu.upload(new Uint32Array(n).map((_, i) => i * 7), [n], 'U32');
    const out = gpu.tensor([rows], 'U32');
    const ws = sampleWorkspace(gpu, rows, vocab);
    const opts = (step: number): SampleOptions => ({ temperature: 1, topK: 64, topP: 0.95, minP: 0.01, repetitionPenalty: 1.1, penaltyTokens: tok, seed: 7, step });
    gpu.run((rec) => sample(gpu, rec, logits, out, opts(0), ws));
    const first = (await gpu.readU32(out)).slice();
    const before = { ...gpu.counters, ...gpu.pool.stats() };
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      gpu.run((rec) => sample(gpu, rec, logits, out, opts(i % 3), ws));
      const got = Array.from(await gpu.readU32(out));
      if (i % 3 === 0) expect(got).toEqual(Array.from(first));
      seen.add(got.join(','));
    }
    const after = { ...gpu.counters, ...gpu.pool.stats() };
    expect(after.created - before.created, 'buffers created').toBe(0);
    expect(after.bindGroupsCreated - before.bindGroupsCreated, 'bind groups created').toBe(0);
    expect(seen.size, 'different steps draw different tokens').toBeGreaterThan(1);
    // Plain argmax pools its scratch: flat too once warm.
    gpu.run((rec) => argmax(gpu, rec, logits, out));
    await gpu.readU32(out);
    const b2 = { ...gpu.counters, ...gpu.pool.stats() };
    for (let i = 0; i < 3; i++) gpu.run((rec) => argmax(gpu, rec, logits, out));
    await gpu.readU32(out);
    const a2 = { ...gpu.counters, ...gpu.pool.stats() };
    expect(a2.created).toBe(b2.created);
    expect(a2.bindGroupsCreated).toBe(b2.bindGroupsCreated);
    for (const t of [logits, tok, out]) t.release();
    ws.release();
  });

  it('refuses bad shapes, dtypes and options with typed errors', async () => {
    const gpu = await testGpu();
    const logits = gpu.tensor([2, 100]);
    const out = gpu.tensor([2], 'U32');
    const ws = sampleWorkspace(gpu, 2, 100);
    const ok: SampleOptions = { temperature: 1, seed: 1, step: 0 };
    const tryRun = (fn: (rec: Recorder) => void) => () => gpu.run(fn);
    const f16 = gpu.tensor([2, 100], 'F16');
    expect(tryRun((rec) => argmax(gpu, rec, f16, out))).toThrow(UnsupportedDtypeError);
    const outF = gpu.tensor([2]);
    expect(tryRun((rec) => argmax(gpu, rec, logits, outF))).toThrow(/argmax \(out\): dtype F32/);
    const out3 = gpu.tensor([3], 'U32');
    expect(tryRun((rec) => argmax(gpu, rec, logits, out3))).toThrow(ShapeError);
    expect(tryRun((rec) => sample(gpu, rec, logits, out3, ok, ws))).toThrow(/sample: out has 3 elements, expected one per row \(2\)/);
    const ws2 = sampleWorkspace(gpu, 2, 101);
    expect(tryRun((rec) => sample(gpu, rec, logits, out, ok, ws2))).toThrow(/workspace is for 2x101, logits are 2x100/);
    expect(tryRun((rec) => sample(gpu, rec, logits, out, { ...ok, topK: -1 }, ws))).toThrow(/option topK = -1/);
    expect(tryRun((rec) => sample(gpu, rec, logits, out, { ...ok, temperature: NaN }, ws))).toThrow(ShapeError);
    const tokF = gpu.tensor([4]);
    expect(tryRun((rec) => sample(gpu, rec, logits, out, { ...ok, penaltyTokens: tokF, repetitionPenalty: 1.1 }, ws))).toThrow(UnsupportedDtypeError);
    const tok3 = gpu.tensor([3, 4], 'U32');
    expect(tryRun((rec) => sample(gpu, rec, logits, out, { ...ok, penaltyTokens: tok3 }, ws))).toThrow(/penaltyTokens must be \[n\] or \[rows=2, n\]/);
    for (const t of [logits, out, f16, outF, out3, tokF, tok3]) t.release();
    ws.release();
    ws2.release();
  });
});
