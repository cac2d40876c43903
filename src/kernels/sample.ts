// Token selection on the GPU: argmax, and llama.cpp's default sampler chain (penalties -> top-k ->
// top-p -> min-p -> temperature -> dist) without sorting the vocabulary. Only the chosen ids are
// written, so a caller reads back 4 bytes per row.
//
// Why multi-workgroup passes: decode has one row of 32k-256k logits. One workgroup per row would put the
// whole row on one compute unit (one SM reads perhaps 50-100 GB/s, ~10 us per 1 MB pass); splitting the
// row into CHUNK-sized workgroups spreads every vocabulary-wide pass over the GPU and leaves only tiny
// per-row steps (merge, select, pick) to a single workgroup.
//
// The sampling pipeline, per row, everything in one recorder:
//   1. penalties (when asked): copy the logits into the workspace and penalise the listed tokens there.
//   2. stats: the argmax kernels give the max (and the greedy token) and clear the row's cut.
//   3. top-k: radix select over the 32-bit order keys, 8 bits per pass (histogram + select, 4 passes):
//      finds the key t of the k-th token in the order (larger logit first, lower index first on ties) and
//      how many tokens with key t are kept. Exact: it only counts.
//   4. top-p: the same radix select with exp(x - max) masses as the target (exact 64-bit fixed-point sums,
//      so the result does not depend on atomic order): the first position where the running mass reaches
//      p * Z, Z being the mass of the top-k survivors (llama.cpp renormalises after top-k). The search
//      runs over the whole row: the top-p cut always lies inside the top-k prefix.
//   5. mass: per-chunk sums of exp((x - max) / T) over tokens before the cut that pass min-p
//      (x >= max + logf(minP), llama.cpp's test in logit space).
//   6. pick: u = hash(seed, step, row) in [0, 1); the first kept token in vocabulary order whose running
//      mass exceeds u * total.
// The walk in 6 goes in vocabulary order, not llama.cpp's sorted order: the distribution is the same,
// the token for a given u is not (llama.cpp's mt19937 stream is not reproduced anyway).

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Kernel } from '../gpu/kernel.ts';
import { Tensor } from '../gpu/tensor.ts';
import { expectDtype, grid } from './common.ts';

/** Elements per workgroup in the vocabulary-wide passes (shaders/sample/common.wgsl). */
export const SAMPLE_CHUNK = 2048;
/** u32 words of per-row state (shaders/sample/common.wgsl STATE). */
const STATE_WORDS = 16;
// State words: 0 argmax index, 1 max key, 2 radix prefix, 3 count above, 4-5 mass above (64-bit),
// 6 search live, 7 cut key, 8 tokens kept at the cut key, 9 cut active, 10 Z (f32 bits).

export interface SampleOptions {
  /** <= 0: greedy (argmax of the penalised logits). */
  temperature: number;
  /** Keep the k most likely tokens; 0 or >= vocab disables (llama.cpp: k <= 0 disables). */
  topK?: number;
  /** Keep the smallest prefix whose probability reaches p; >= 1 disables. */
  topP?: number;
  /** Keep tokens with probability >= minP * max probability; <= 0 disables. */
  minP?: number;
  /** Divides positive logits and multiplies non-positive ones of penalised tokens (1 disables). */
  repetitionPenalty?: number;
  /** Subtracted once from the logit of every penalised token (0 disables). */
  presencePenalty?: number;
  /** Subtracted count times from the logit of every penalised token (0 disables). */
  frequencyPenalty?: number;
  /** U32 [n] (shared by all rows) or [rows, n]: the recent token ids the penalties count. */
  penaltyTokens?: Tensor;
  /** The draw is a pure function of (seed, step, row), each taken modulo 2^32. */
  seed: number;
  step: number;
}

/** Scratch buffers for sample(), made once per (rows, vocab) and reused, so sampling allocates nothing. */
export class SampleWorkspace {
  readonly chunks: number;
  readonly state: Tensor;
  readonly partials: Tensor;
  readonly hist: Tensor;
  private work_: Tensor | null = null;

  constructor(private readonly gpu: Gpu, readonly rows: number, readonly vocab: number) {
    if (!(rows >= 1 && vocab >= 1)) throw new ShapeError('sample', `workspace needs rows >= 1 and vocab >= 1, got ${rows}x${vocab}`, { rows, vocab });
    this.chunks = Math.ceil(vocab / SAMPLE_CHUNK);
    this.state = gpu.tensor([rows, STATE_WORDS], 'U32', 'sample.state');
    this.partials = gpu.tensor([rows, this.chunks, 2], 'U32', 'sample.partials');
    this.hist = gpu.tensor([rows, 256, 3], 'U32', 'sample.hist');
    // The select kernel clears the histogram after each pass; it must start cleared.
    gpu.write(this.hist, new Uint8Array(this.hist.byteLength));
  }

  /** The penalised copy of the logits, made on first use (sampling without penalties never needs it). */
  work(): Tensor {
    this.work_ ??= this.gpu.tensor([this.rows, this.vocab], 'F32', 'sample.work');
    return this.work_;
  }

  release(): void {
    for (const t of [this.state, this.partials, this.hist, this.work_]) t?.release();
    this.work_ = null;
  }
}

export function sampleWorkspace(gpu: Gpu, rows: number, vocab: number): SampleWorkspace {
  return new SampleWorkspace(gpu, rows, vocab);
}

// ---- argmax ------------------------------------------------------------------------------------

function checkLogits(op: string, logits: Tensor, out: Tensor): { rows: number; vocab: number } {
  expectDtype(op, 'logits', logits, ['F32']);
  expectDtype(op, 'out', out, ['U32']);
  if (logits.shape.length !== 2 && logits.shape.length !== 1) {
    throw new ShapeError(op, `logits must be [rows, vocab] or [vocab], got [${logits.shape.join(', ')}]`, { shape: logits.shape });
  }
  const vocab = logits.shape[logits.shape.length - 1];
  const rows = logits.shape.length === 2 ? logits.shape[0] : 1;
  if (vocab < 1 || rows < 1) throw new ShapeError(op, `logits [${logits.shape.join(', ')}] is empty`, { shape: logits.shape });
  if (out.numel !== rows) throw new ShapeError(op, `out has ${out.numel} elements, expected one per row (${rows})`, { rows, out: out.shape });
  if (rows > 65535) throw new ShapeError(op, `${rows} rows exceed the 65535 rows one dispatch can hold`, { rows });
  if (Math.ceil(vocab / SAMPLE_CHUNK) > 65535) throw new ShapeError(op, `vocab ${vocab} is too large`, { vocab });
  return { rows, vocab };
}

function inputDefines(vocab: number): Record<string, boolean> {
  return { VEC4: vocab % 4 === 0 };
}

/** Argmax into dst[row * outStride] (and with stats the max key and a cleared cut into the state). */
function recordArgmax(gpu: Gpu, rec: Recorder, src: Tensor, rows: number, vocab: number, dst: Tensor, outStride: number, stats: boolean, partials: Tensor | null): void {
  const chunks = Math.ceil(vocab / SAMPLE_CHUNK);
  const params = { vocab, nChunks: chunks, outStride, rows };
  const final = chunks === 1;
  const k1 = gpu.kernel({
    shader: 'sample/argmax', label: 'argmax', defines: { ...inputDefines(vocab), FINAL: final, STATS: stats },
    params: ['vocab:u32', 'nChunks:u32', 'outStride:u32'], bindings: ['read', 'write'],
  });
  if (final) {
    rec.dispatch(k1, { params, buffers: [src, dst], workgroups: [1, rows] });
    return;
  }
  let tmp = partials;
  if (!tmp) {
    // Pooled scratch, given back only once the work that reads it is submitted.
    const t = gpu.tensor([rows, chunks, 2], 'U32', 'argmax.partials');
    rec.onSubmitted(() => t.release());
    tmp = t;
  }
  const k2 = gpu.kernel({
    shader: 'sample/argmax_merge', label: 'argmax.merge', defines: { NO_INPUT: true, STATS: stats },
    params: ['rows:u32', 'nChunks:u32', 'outStride:u32'], bindings: ['read', 'write'],
  });
  rec.dispatch(k1, { params, buffers: [src, tmp], workgroups: [chunks, rows] });
  rec.dispatch(k2, { params, buffers: [tmp, dst], workgroups: grid(rows) });
}

/** Greedy token per row: the largest logit, the lowest index among equal ones (llama.cpp's greedy
 *  sampler keeps the first maximum it meets); NaN never wins, a row of only NaN gives 0. */
export function argmax(gpu: Gpu, rec: Recorder, logits: Tensor, out: Tensor): void {
  const { rows, vocab } = checkLogits('argmax', logits, out);
  recordArgmax(gpu, rec, logits, rows, vocab, out, 1, false, null);
}

// ---- sampling ----------------------------------------------------------------------------------

function checkOptions(opts: SampleOptions, vocab: number, rows: number): void {
  const bad = (name: string, value: unknown, why: string) => {
    throw new ShapeError('sample', `option ${name} = ${String(value)}: ${why}`, { [name]: value });
  };
  if (!Number.isFinite(opts.temperature)) bad('temperature', opts.temperature, 'must be finite');
  if (opts.topK !== undefined && !(Number.isInteger(opts.topK) && opts.topK >= 0)) bad('topK', opts.topK, 'must be an integer >= 0');
  for (const name of ['topP', 'minP', 'presencePenalty', 'frequencyPenalty'] as const) {
    const v = opts[name];
    if (v !== undefined && !Number.isFinite(v)) bad(name, v, 'must be finite');
  }
  const rp = opts.repetitionPenalty;
  if (rp !== undefined && !(Number.isFinite(rp) && rp > 0)) bad('repetitionPenalty', rp, 'must be finite and > 0');
  for (const name of ['seed', 'step'] as const) if (!Number.isInteger(opts[name])) bad(name, opts[name], 'must be an integer');
  const pt = opts.penaltyTokens;
  if (pt) {
    expectDtype('sample', 'penaltyTokens', pt, ['U32']);
    const ok = pt.shape.length === 1 || (pt.shape.length === 2 && pt.shape[0] === rows);
    if (!ok) throw new ShapeError('sample', `penaltyTokens must be [n] or [rows=${rows}, n], got [${pt.shape.join(', ')}]`, { shape: pt.shape, rows });
  }
  void vocab;
}

/**
 * Sample one token per row with llama.cpp's chain penalties -> top-k -> top-p -> min-p -> temperature
 * -> dist. `ws` comes from sampleWorkspace(gpu, rows, vocab) and is reused across calls.
 */
export function sample(gpu: Gpu, rec: Recorder, logits: Tensor, out: Tensor, opts: SampleOptions, ws: SampleWorkspace): void {
  const { rows, vocab } = checkLogits('sample', logits, out);
  checkOptions(opts, vocab, rows);
  if (ws.rows !== rows || ws.vocab !== vocab) {
    throw new ShapeError('sample', `workspace is for ${ws.rows}x${ws.vocab}, logits are ${rows}x${vocab}`, { workspace: [ws.rows, ws.vocab], logits: [rows, vocab] });
  }

  // 1. penalties, on a copy so the caller's logits stay as they were.
  let src = logits;
  const rep = opts.repetitionPenalty ?? 1, freq = opts.frequencyPenalty ?? 0, pres = opts.presencePenalty ?? 0;
  const pt = opts.penaltyTokens;
  if (pt && pt.numel > 0 && (rep !== 1 || freq !== 0 || pres !== 0)) {
    const work = ws.work();
    rec.copy(logits, work, rows * vocab * 4);
    const n = pt.shape[pt.shape.length - 1];
    const k = gpu.kernel({
      shader: 'sample/penalize', params: ['n:u32', 'perRow:u32', 'vocab:u32', 'repeat:f32', 'freq:f32', 'presence:f32'],
      bindings: ['read', 'write'], label: 'sample.penalize',
    });
    rec.dispatch(k, {
      params: { n, perRow: pt.shape.length === 2 ? 1 : 0, vocab, repeat: rep, freq, presence: pres },
      buffers: [pt, work], workgroups: [Math.ceil(n / 256), rows],
    });
    src = work;
  }

  // Greedy cases: temperature <= 0 (llama.cpp keeps only the max), top-k 1, top-p <= 0 (the first token
  // alone reaches p), min-p > 1 (nothing but the first token passes): all keep exactly the first token.
  const topK = opts.topK ?? 0, topP = opts.topP ?? 1, minP = opts.minP ?? 0;
  if (opts.temperature <= 0 || topK === 1 || topP <= 0 || minP > 1) {
    recordArgmax(gpu, rec, src, rows, vocab, out, 1, false, ws.partials);
    return;
  }

  // 2. stats: max key and argmax into the state, cut cleared.
  recordArgmax(gpu, rec, src, rows, vocab, ws.state, STATE_WORDS, true, ws.partials);

  const chunks = ws.chunks;
  const useK = topK > 0 && topK < vocab;
  const useP = topP < 1;
  const histKernel = (mass: boolean): Kernel => gpu.kernel({
    shader: 'sample/histogram', label: mass ? 'sample.histogram.mass' : 'sample.histogram',
    defines: { ...inputDefines(vocab), MASS: mass },
    params: ['vocab:u32', 'shift:u32', 'mask:u32'], bindings: ['read', 'read', 'write'],
  });
  const selectKernel = gpu.kernel({
    shader: 'sample/select', label: 'sample.select', defines: { NO_INPUT: true },
    params: ['rows:u32', 'shift:u32', 'k:u32', 'p:f32', 'massTarget:u32', 'first:u32', 'last:u32', 'zTotal:u32', 'zCut:u32'],
    bindings: ['write', 'write'],
  });
  const search = (massTarget: boolean, withMass: boolean, zTotal: boolean, zCut: boolean) => {
    const hk = histKernel(withMass);
    for (let pass = 0; pass < 4; pass++) {
      const shift = 24 - 8 * pass;
      const mask = pass === 0 ? 0 : (0xffffffff << (shift + 8)) >>> 0;
      rec.dispatch(hk, { params: { vocab, shift, mask }, buffers: [src, ws.state, ws.hist], workgroups: [chunks, rows] });
      rec.dispatch(selectKernel, {
        params: {
          rows, shift, k: useK ? topK : 0, p: topP, massTarget: massTarget ? 1 : 0, first: pass === 0 ? 1 : 0, last: pass === 3 ? 1 : 0,
          zTotal: zTotal && pass === 0 ? 1 : 0, zCut: zCut && pass === 3 ? 1 : 0,
        },
        buffers: [ws.hist, ws.state], workgroups: grid(rows),
      });
    }
  };
  // 3. top-k (with masses only when top-p needs the survivors' mass Z).
  if (useK) search(false, useP, useP, useP);
  // 4. top-p.
  if (useP) search(true, true, !useK, false);

  // 5-6. masses of the kept tokens at temperature T, then the draw.
  // logf(minP) on the host so the GPU's m = max + logMinP is the same f32 add the reference does.
  const minPOn = minP > 0 ? 1 : 0;
  const logMinP = minP > 0 ? Math.fround(Math.log(minP)) : 0;
  const massKernel = gpu.kernel({
    shader: 'sample/mass', label: 'sample.mass', defines: inputDefines(vocab),
    params: ['vocab:u32', 'nChunks:u32', 'temp:f32', 'logMinP:f32', 'minPOn:u32'], bindings: ['read', 'read', 'write'],
  });
  rec.dispatch(massKernel, {
    params: { vocab, nChunks: chunks, temp: opts.temperature, logMinP, minPOn },
    buffers: [src, ws.state, ws.partials], workgroups: [chunks, rows],
  });
  const pickKernel = gpu.kernel({
    shader: 'sample/pick', label: 'sample.pick', defines: inputDefines(vocab),
    params: ['rows:u32', 'vocab:u32', 'nChunks:u32', 'temp:f32', 'logMinP:f32', 'minPOn:u32', 'seed:u32', 'step:u32'],
    bindings: ['read', 'read', 'read', 'write'],
  });
  rec.dispatch(pickKernel, {
    params: { rows, vocab, nChunks: chunks, temp: opts.temperature, logMinP, minPOn, seed: opts.seed >>> 0, step: opts.step >>> 0 },
    buffers: [src, ws.state, ws.partials, out], workgroups: grid(rows),
  });
}
