// Logits-level agreement between two runs (our engine vs llama.cpp, batch vs one token at a time, a
// quantized model vs its F32 original): the largest difference and whether the rankings agree, which is
// what decides greedy decoding.

export interface LogitsComparison {
  rows: number;
  /** Largest |a - b| over all rows and token ids, and the row it is in. */
  maxAbsDiff: number;
  maxAbsDiffRow: number;
  /** Rows whose argmax (lowest id on ties) is the same. */
  top1Agree: number;
  /** Over rows, how many of a's five highest ids are among b's five highest (0..5): the mean and the worst row. */
  meanTop5Overlap: number;
  minTop5Overlap: number;
  message: string;
}

type Rows = Float32Array | readonly Float32Array[];

export function compareLogits(a: Rows, b: Rows): LogitsComparison {
  const ra = a instanceof Float32Array ? [a] : a;
  const rb = b instanceof Float32Array ? [b] : b;
  if (ra.length !== rb.length) throw new Error(`compareLogits: ${ra.length} rows vs ${rb.length}`);
  if (ra.length === 0) throw new Error('compareLogits: no rows');
  let maxAbsDiff = 0, maxAbsDiffRow = 0, top1Agree = 0, overlapSum = 0, minTop5Overlap = 5;
  for (let r = 0; r < ra.length; r++) {
    const x = ra[r], y = rb[r];
    if (x.length !== y.length) throw new Error(`compareLogits: row ${r} has ${x.length} logits vs ${y.length}`);
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i] - y[i]);
      // NaN on either side counts as an infinite difference.
      if (!(d <= maxAbsDiff)) {
        maxAbsDiff = Number.isNaN(d) ? Infinity : d;
        maxAbsDiffRow = r;
      }
    }
    const tx = topK(x, 5), ty = topK(y, 5);
    if (tx[0] === ty[0]) top1Agree++;
    const overlap = tx.filter((id) => ty.includes(id)).length;
    overlapSum += overlap;
    minTop5Overlap = Math.min(minTop5Overlap, overlap);
  }
  const rows = ra.length;
  const meanTop5Overlap = overlapSum / rows;
  const message = `${rows} rows: max |diff| ${maxAbsDiff.toExponential(3)} (row ${maxAbsDiffRow}), top-1 agrees in ${top1Agree}/${rows}, top-5 overlap mean ${meanTop5Overlap.toFixed(2)} min ${minTop5Overlap}`;
  return { rows, maxAbsDiff, maxAbsDiffRow, top1Agree, meanTop5Overlap, minTop5Overlap, message };
}

/** Ids of the k largest values, largest first; ties go to the lower id (as llama.cpp's greedy sampler). */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (best.length === k && !(v > values[best[k - 1]])) continue;
    let j = best.length;
    while (j > 0 && v > values[best[j - 1]]) j--;
    best.splice(j, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

export function argmax(values: ArrayLike<number>): number {
  return topK(values, 1)[0];
}
