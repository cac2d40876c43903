// Token selection, the straightforward way: sort the row and walk llama.cpp's default chain
// (penalties -> top-k -> top-p -> min-p -> temperature -> dist) step by step. The draw u is the same
// hash of (seed, step, row) the GPU uses; the dist step walks the kept tokens in vocabulary order.
// Besides the token it reports how close the row came to a rounding-sensitive boundary (the top-p cut
// and the draw), so a test can tell a real mismatch from a float-rounding tie.

const f32 = Math.fround;

/** PCG output permutation as a 32-bit hash (shaders/sample/common.wgsl pcgHash). */
export function pcgHash(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** The draw in [0, 1) for (seed, step, row): 24 bits, exact in f32 and f64. */
export function uniformDraw(seed: number, step: number, row: number): number {
  const h = pcgHash((pcgHash((pcgHash(seed >>> 0) ^ (step >>> 0)) >>> 0) ^ (row >>> 0)) >>> 0);
  return (h >>> 8) / 16777216;
}

/** llama.cpp's greedy sampler (first maximum wins), except that NaN never wins; all-NaN gives 0. */
export function argmaxRow(x: ArrayLike<number>): number {
  let best = -1;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i])) continue;
    if (best < 0 || x[i] > x[best]) best = i;
  }
  return Math.max(best, 0);
}

export function argmaxRef(logits: Float32Array, rows: number, vocab: number): Uint32Array {
  const out = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) out[r] = argmaxRow(logits.subarray(r * vocab, (r + 1) * vocab));
  return out;
}

/** llama.cpp penalties on a copy of one row, in f32: each distinct listed token once, with its count. */
export function penalizeRow(x: Float32Array, tokens: ArrayLike<number>, repeat: number, freq: number, presence: number): Float32Array {
  const y = Float32Array.from(x);
  const counts = new Map<number, number>();
  for (let i = 0; i < tokens.length; i++) counts.set(tokens[i], (counts.get(tokens[i]) ?? 0) + 1);
  for (const [t, count] of counts) {
    if (t >= y.length) continue;
    let v = y[t];
    v = v <= 0 ? f32(v * f32(repeat)) : f32(v / f32(repeat));
    y[t] = f32(v - f32(f32(count * f32(freq)) + f32(presence)));
  }
  return y;
}

export interface SampleRefOptions {
  temperature: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** This row's recent tokens. */
  penaltyTokens?: ArrayLike<number>;
  seed: number;
  step: number;
}

export interface SampleRefResult {
  token: number;
  /** Kept token ids, in the sorted order (larger logit first, lower index on ties). */
  kept: number[];
  /** Probabilities of the kept tokens at temperature T, by token id. */
  probs: Map<number, number>;
  /** Distance of p * Z from the running mass at the top-p cut, relative to Z (Infinity without top-p). */
  topPMargin: number;
  /** Distance of u * total from the nearest boundary of the chosen token, relative to total. */
  drawMargin: number;
}

/** One row through the chain. Sums are f64 (the GPU's differ by float rounding; see the margins). */
export function sampleRowRef(logits: Float32Array, opts: SampleRefOptions, row: number): SampleRefResult {
  let x = logits;
  const rep = opts.repetitionPenalty ?? 1, freq = opts.frequencyPenalty ?? 0, pres = opts.presencePenalty ?? 0;
  if (opts.penaltyTokens && opts.penaltyTokens.length > 0 && (rep !== 1 || freq !== 0 || pres !== 0)) {
    x = penalizeRow(x, opts.penaltyTokens, rep, freq, pres);
  }
  const greedy = (): SampleRefResult => {
    const token = argmaxRow(x);
    return { token, kept: [token], probs: new Map([[token, 1]]), topPMargin: Infinity, drawMargin: Infinity };
  };
  const topK = opts.topK ?? 0, topP = opts.topP ?? 1, minP = opts.minP ?? 0, temp = opts.temperature;
  if (temp <= 0 || topK === 1 || topP <= 0 || minP > 1) return greedy();

  const order: number[] = [];
  for (let i = 0; i < x.length; i++) if (!Number.isNaN(x[i])) order.push(i);
  order.sort((a, b) => x[b] - x[a] || a - b);
  if (order.length === 0) return greedy();
  const max = x[order[0]];
  if (!Number.isFinite(max)) return greedy();

  // top-k
  let kept = topK > 0 ? order.slice(0, Math.min(topK, order.length)) : order;
  // top-p over the top-k survivors' softmax at T = 1: the smallest prefix whose mass reaches p.
  let topPMargin = Infinity;
  if (topP < 1) {
    const w = kept.map((i) => Math.exp(x[i] - max));
    const z = w.reduce((a, b) => a + b, 0);
    let cum = 0, n = kept.length;
    for (let j = 0; j < kept.length; j++) {
      const before = cum;
      cum += w[j];
      if (cum >= topP * z) {
        n = j + 1;
        topPMargin = Math.min(topP * z - before, cum - topP * z) / z;
        break;
      }
    }
    kept = kept.slice(0, n);
  }
  // min-p in logit space, f32 as llama.cpp: x >= max + logf(p); the first token always stays.
  if (minP > 0) {
    const m = f32(max + f32(Math.log(minP)));
    kept = kept.filter((i, j) => j === 0 || x[i] >= m);
  }
  // temperature and the draw, walking the kept tokens in vocabulary order.
  const ids = [...kept].sort((a, b) => a - b);
  const w = ids.map((i) => Math.exp((x[i] - max) / temp));
  const total = w.reduce((a, b) => a + b, 0);
  const probs = new Map<number, number>();
  ids.forEach((id, j) => probs.set(id, w[j] / total));
  const goal = uniformDraw(opts.seed, opts.step, row) * total;
  let cum = 0;
  for (let j = 0; j < ids.length; j++) {
    if (w[j] <= 0) continue;
    const before = cum;
    cum += w[j];
    if (cum > goal) {
      return { token: ids[j], kept, probs, topPMargin, drawMargin: Math.min(goal - before, cum - goal) / total };
    }
  }
  let last = ids.length - 1;
  while (last > 0 && w[last] <= 0) last--;
  return { token: ids[last], kept, probs, topPMargin, drawMargin: 0 };
}
