// Helpers for the shader-f16 kernel tests (*.f16.test.ts, run on lavapipe): F16 tensors in and out,
// poisoned with f16 NaNs, and a per-element error bound that reports how close the kernel came to it.

import type { Gpu } from '../gpu/gpu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { f16ArrayToF32, f32ArrayToF16, roundF16 } from '../formats/f16.ts';

/** f16's unit roundoff: round-to-nearest is off by at most 2^-11 of the value (normal range). */
export const F16_EPS = 2 ** -11;

/** values rounded through f16, as an F16 tensor would hold them. */
export function roundedF16(values: Float32Array): Float32Array {
  return values.map(roundF16);
}

/** An F16 tensor holding `values` rounded to f16; the rounded values come back for the reference. */
export function uploadF16(gpu: Gpu, values: Float32Array, shape: readonly number[], label = 'f16'): { t: Tensor; v: Float32Array } {
  const bits = f32ArrayToF16(values);
  const t = gpu.upload(bits, shape, 'F16', label);
  return { t, v: f16ArrayToF32(bits) };
}

/** A pooled F16 output tensor filled with f16 NaNs (0x7e00 halves) so unwritten elements fail. */
export function poisonedF16(gpu: Gpu, shape: readonly number[], label = 'out'): Tensor {
  const t = gpu.tensor(shape, 'F16', label);
  gpu.poison(t, 0x7e007e00);
  return t;
}

export async function readF16(gpu: Gpu, t: Tensor): Promise<Float32Array> {
  const b = await gpu.readBytes(t);
  return f16ArrayToF32(new Uint16Array(b.buffer, b.byteOffset, t.numel));
}

/** Largest |actual - expected| / bound seen by any check, per label: the f16 tests print these
 *  (F16_REPORT=1) so the margins they leave can be quoted. */
export const f16Margins = new Map<string, { maxAbs: number; maxRatio: number }>();

/** |actual - expected| <= bound (a number, or one per element) everywhere; NaN where the reference is
 *  finite fails. Returns the largest error and its ratio to the bound. */
export function expectWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, bound: number | ArrayLike<number>, what: string): { maxAbs: number; maxRatio: number } {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  let maxAbs = 0, maxRatio = 0, bad = 0;
  const first: string[] = [];
  for (let i = 0; i < actual.length; i++) {
    const b = typeof bound === 'number' ? bound : bound[i];
    const d = Math.abs(actual[i] - expected[i]);
    const ok = d <= b || actual[i] === expected[i];
    if (Number.isFinite(d)) {
      maxAbs = Math.max(maxAbs, d);
      maxRatio = Math.max(maxRatio, b > 0 ? d / b : d > 0 ? Infinity : 0);
    }
    if (!ok) {
      bad++;
      if (first.length < 5) first.push(`[${i}] got ${actual[i]}, expected ${expected[i]} (bound ${b.toExponential(3)})`);
    }
  }
  if (bad) throw new Error(`${what}: ${bad}/${actual.length} outside the bound (max abs ${maxAbs.toExponential(3)}); ${first.join('; ')}`);
  const key = what.replace(/ .*/, '');
  const prev = f16Margins.get(key);
  f16Margins.set(key, { maxAbs: Math.max(prev?.maxAbs ?? 0, maxAbs), maxRatio: Math.max(prev?.maxRatio ?? 0, maxRatio) });
  return { maxAbs, maxRatio };
}

/** Print the margins collected in this file (F16_REPORT=1). */
export function reportF16Margins(file: string): void {
  if (!(globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.F16_REPORT) return;
  for (const [k, v] of f16Margins) console.log(`[f16 ${file}] ${k}: max abs err ${v.maxAbs.toExponential(3)}, ${(100 * v.maxRatio).toFixed(1)}% of the bound`);
}

/** WGSL converts f32 to f16 by rounding to either neighbour (the spec does not fix the mode), so an
 *  f16(v) store is within one f16 ulp, 2u relative; lavapipe rounds to nearest (u) and the tests
 *  report how much of the bound they used. */
export const F16_CONVERT = 2 * F16_EPS;

/** Per-element bound for a result computed in f32 and rounded to f16 once: the f32 path's own
 *  tolerance (rtol, atol) plus the f16 rounding (`rounding` of |y|: F16_CONVERT for an f32 -> f16
 *  conversion, F16_EPS for a correctly rounded f16 operation) and 2^-24 absolute where y is subnormal. */
export function roundedOnceBound(ref: ArrayLike<number>, f32Tol: { atol: number; rtol: number } = { atol: 0, rtol: 0 }, rounding = F16_CONVERT): Float64Array {
  const b = new Float64Array(ref.length);
  for (let i = 0; i < ref.length; i++) b[i] = (rounding + f32Tol.rtol) * Math.abs(ref[i]) * (1 + f32Tol.rtol) + f32Tol.atol + 2 ** -24;
  return b;
}
