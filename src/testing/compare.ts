// Compare GPU output with a reference and explain the first mismatches.

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface CompareResult {
  ok: boolean;
  maxAbs: number;
  maxRel: number;
  mismatches: number;
  message: string;
}

/** |a - e| <= atol + rtol * |e| everywhere; NaN or Inf where the reference is finite always fails. */
export function compareArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what = 'output'): CompareResult {
  if (actual.length !== expected.length) {
    return { ok: false, maxAbs: Infinity, maxRel: Infinity, mismatches: -1, message: `${what}: length ${actual.length}, expected ${expected.length}` };
  }
  let maxAbs = 0, maxRel = 0, mismatches = 0;
  const first: string[] = [];
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    const d = Math.abs(a - e);
    const bad = !Number.isFinite(a) && Number.isFinite(e) ? true : !(d <= tol.atol + tol.rtol * Math.abs(e)) && !(a === e);
    if (Number.isFinite(d)) {
      maxAbs = Math.max(maxAbs, d);
      maxRel = Math.max(maxRel, d / Math.max(Math.abs(e), 1e-30));
    }
    if (bad) {
      mismatches++;
      if (first.length < 5) first.push(`[${i}] got ${a}, expected ${e}`);
    }
  }
  const message = mismatches
    ? `${what}: ${mismatches}/${actual.length} outside atol ${tol.atol} rtol ${tol.rtol} (max abs ${maxAbs.toExponential(3)}); ${first.join('; ')}`
    : `${what}: ok (max abs ${maxAbs.toExponential(3)})`;
  return { ok: mismatches === 0, maxAbs, maxRel, mismatches, message };
}

/** Throw with a helpful message when arrays differ beyond the tolerance. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what = 'output'): void {
  const r = compareArrays(actual, expected, tol, what);
  if (!r.ok) throw new Error(r.message);
}
