// K-quants: Q4_K, Q5_K and Q6_K super-blocks of 256 values, encoded and decoded exactly as ggml does.
//
// ggml computes these in float32. JavaScript computes in float64, so every step below is rounded with
// Math.fround in the order the C expressions evaluate; a single float64 operation on float32 inputs
// rounded once to float32 is the correctly rounded float32 result, so the bytes come out identical to
// quantize_row_q{4,5,6}_K_ref on a machine that does not contract a*b+c into a fused multiply-add.
//
// Layouts (byte offsets inside one super-block):
//   Q4_K (144): d f16 @0, dmin f16 @2, scales[12] @4, qs[128] @16
//   Q5_K (176): d f16 @0, dmin f16 @2, scales[12] @4, qh[32] @16, qs[128] @48
//   Q6_K (210): ql[128] @0, qh[64] @128, scales[16] int8 @192, d f16 @208
// Q4_K/Q5_K split the 256 values into 8 sub-blocks of 32, each with a 6-bit scale and a 6-bit min packed
// into scales[12] (see scaleMinK4). Q6_K has 16 sub-blocks of 16, each with an int8 scale.

import { f16BitsToF32, f32ToF16Bits } from './f16.ts';

export const QK_K = 256;
export const Q4_K_BYTES = 144;
export const Q5_K_BYTES = 176;
export const Q6_K_BYTES = 210;

const fr = Math.fround;
// ggml's GROUP_MAX_EPS: a sub-block whose largest magnitude is below this is treated as all zeros.
const GROUP_MAX_EPS = fr(1e-15);
const TENTH = fr(0.1);

/** ggml's nearest_int: adding 1.5 * 2^23 in float32 makes the FPU round half to even. */
function nearestInt(v: number): number {
  return fr(v + 12582912) - 12582912;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function f16At(b: Uint8Array, o: number): number {
  return f16BitsToF32(b[o] | (b[o + 1] << 8));
}

function setF16(b: Uint8Array, o: number, v: number): void {
  const h = f32ToF16Bits(v);
  b[o] = h & 0xff;
  b[o + 1] = h >>> 8;
}

function checkSource(type: string, src: Float32Array): void {
  if (src.length % QK_K !== 0) throw new RangeError(`${type}: ${src.length} values is not a whole number of ${QK_K}-value super-blocks`);
}

function checkBytes(type: string, bytes: Uint8Array, n: number, blockBytes: number): void {
  if (n % QK_K !== 0) throw new RangeError(`${type}: ${n} values is not a whole number of ${QK_K}-value super-blocks`);
  const need = (n / QK_K) * blockBytes;
  if (bytes.length < need) throw new RangeError(`${type}: ${bytes.length} bytes given, ${n} values need ${need}`);
}

// ---- 6-bit scale/min packing shared by Q4_K and Q5_K ----------------------------------------------

/** Scale and min of sub-block j (ggml's get_scale_min_k4). Sub-blocks 0-3 use the low 6 bits of bytes
 *  j and j+4; sub-blocks 4-7 keep their low 4 bits in byte j+4 and their top 2 bits in the spare top
 *  bits of bytes j-4 (scale) and j (min). */
export function scaleMinK4(j: number, q: Uint8Array, o = 0): [number, number] {
  if (j < 4) return [q[o + j] & 63, q[o + j + 4] & 63];
  return [
    (q[o + j + 4] & 0xf) | ((q[o + j - 4] >> 6) << 4),
    (q[o + j + 4] >> 4) | ((q[o + j] >> 6) << 4),
  ];
}

function packScaleMinK4(ls: Uint8Array, lm: Uint8Array, out: Uint8Array, o: number): void {
  for (let j = 0; j < 12; j++) out[o + j] = 0;
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      out[o + j] = ls[j];
      out[o + j + 4] = lm[j];
    } else {
      out[o + j + 4] = (ls[j] & 0xf) | ((lm[j] & 0xf) << 4);
      out[o + j - 4] |= (ls[j] >> 4) << 6;
      out[o + j] |= (lm[j] >> 4) << 6;
    }
  }
}

// ---- ggml's search for a sub-block's scale and min (make_qkx2_quants) ---------------------------

/** Fits x ≈ scale * L - theMin with L in [0, nmax], minimising the weighted squared error over a few
 *  candidate inverse scales. Writes L; returns [scale, theMin]. */
function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, weights: Float32Array, L: Uint8Array, Laux: Uint8Array,
  rmin: number, rdelta: number, nstep: number,
): [number, number] {
  let min = x[0];
  let max = x[0];
  let sumW = weights[0];
  let sumX = fr(sumW * x[0]);
  for (let i = 1; i < n; i++) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const w = weights[i];
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * x[i]));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, 0, n);
    return [0, -min];
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = clamp(nearestInt(fr(iscale * fr(x[i] - min))), 0, nmax);
    L[i] = l;
    let diff = fr(fr(fr(scale * l) + min) - x[i]);
    diff = fr(diff * diff);
    bestError = fr(bestError + fr(weights[i] * diff));
  }
  for (let is = 0; is <= nstep; is++) {
    // min moves to the best fit found so far, and ggml recomputes max - min from it each step.
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(fr(iscale * fr(x[i] - min))), 0, nmax);
      Laux[i] = l;
      const wl = fr(weights[i] * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * x[i]));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let err = 0;
      for (let i = 0; i < n; i++) {
        let diff = fr(fr(fr(thisScale * Laux[i]) + thisMin) - x[i]);
        diff = fr(diff * diff);
        err = fr(err + fr(weights[i] * diff));
      }
      if (err < bestError) {
        for (let i = 0; i < n; i++) L[i] = Laux[i];
        bestError = err;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

/** The part of quantize_row_q4_K_ref / q5_K_ref that both share: per-sub-block scale and min search,
 *  6-bit quantization of those against the super-block's d and dmin, then the final levels L[256]. */
function quantizeScaleMinBlock(x: Float32Array, nmax: number, rmin: number, nstep: number, out: Uint8Array, o: number, L: Uint8Array): void {
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  const weights = new Float32Array(32);
  const Laux = new Uint8Array(32);
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const xs = x.subarray(32 * j, 32 * j + 32);
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(xs[l] * xs[l]));
    const avX = fr(Math.sqrt(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = fr(avX + Math.abs(xs[l]));
    [scales[j], mins[j]] = makeQkx2Quants(32, nmax, xs, weights, L.subarray(32 * j, 32 * j + 32), Laux, rmin, TENTH, nstep);
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  const ls = new Uint8Array(8);
  const lm = new Uint8Array(8);
  for (let j = 0; j < 8; j++) {
    // C stores nearest_int's result in a uint8_t before clamping to 63.
    ls[j] = Math.min(63, nearestInt(fr(invScale * scales[j])) & 0xff);
    lm[j] = Math.min(63, nearestInt(fr(invMin * mins[j])) & 0xff);
  }
  packScaleMinK4(ls, lm, out, o + 4);
  setF16(out, o, fr(maxScale / 63));
  setF16(out, o + 2, fr(maxMin / 63));
  const d = f16At(out, o);
  const dmin = f16At(out, o + 2);
  for (let j = 0; j < 8; j++) {
    const [sc, m] = scaleMinK4(j, out, o + 4);
    const dj = fr(d * sc);
    if (dj === 0) continue; // keep the levels make_qkx2_quants chose, as ggml does
    const dm = fr(dmin * m);
    for (let i = 0; i < 32; i++) L[32 * j + i] = clamp(nearestInt(fr(fr(x[32 * j + i] + dm) / dj)), 0, nmax);
  }
}

// ---- Q4_K --------------------------------------------------------------------------------------

export function quantizeQ4_K(src: Float32Array): Uint8Array {
  checkSource('Q4_K', src);
  const nb = src.length / QK_K;
  const out = new Uint8Array(nb * Q4_K_BYTES);
  const L = new Uint8Array(QK_K);
  for (let b = 0; b < nb; b++) {
    const o = b * Q4_K_BYTES;
    quantizeScaleMinBlock(src.subarray(b * QK_K, (b + 1) * QK_K), 15, -1, 20, out, o, L);
    // Each 64 values share 32 bytes: the first 32 in the low nibbles, the next 32 in the high nibbles.
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) out[o + 16 + 32 * c + l] = L[64 * c + l] | (L[64 * c + 32 + l] << 4);
    }
  }
  return out;
}

export function dequantizeQ4_K(bytes: Uint8Array, n: number): Float32Array {
  checkBytes('Q4_K', bytes, n, Q4_K_BYTES);
  const y = new Float32Array(n);
  for (let b = 0; b < n / QK_K; b++) {
    const o = b * Q4_K_BYTES;
    const d = f16At(bytes, o);
    const dmin = f16At(bytes, o + 2);
    for (let c = 0; c < 4; c++) {
      const [sc1, m1] = scaleMinK4(2 * c, bytes, o + 4);
      const [sc2, m2] = scaleMinK4(2 * c + 1, bytes, o + 4);
      const d1 = fr(d * sc1), min1 = fr(dmin * m1);
      const d2 = fr(d * sc2), min2 = fr(dmin * m2);
      const q = o + 16 + 32 * c;
      const base = b * QK_K + 64 * c;
      for (let l = 0; l < 32; l++) y[base + l] = fr(d1 * (bytes[q + l] & 0xf)) - min1;
      for (let l = 0; l < 32; l++) y[base + 32 + l] = fr(d2 * (bytes[q + l] >> 4)) - min2;
    }
  }
  return y;
}

// ---- Q5_K --------------------------------------------------------------------------------------

export function quantizeQ5_K(src: Float32Array): Uint8Array {
  checkSource('Q5_K', src);
  const nb = src.length / QK_K;
  const out = new Uint8Array(nb * Q5_K_BYTES);
  const L = new Uint8Array(QK_K);
  for (let b = 0; b < nb; b++) {
    const o = b * Q5_K_BYTES;
    quantizeScaleMinBlock(src.subarray(b * QK_K, (b + 1) * QK_K), 31, -0.5, 15, out, o, L);
    // Low 4 bits as in Q4_K; the fifth bit of value 32*j + l is bit j of qh[l].
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const l1 = L[64 * c + l];
        const l2 = L[64 * c + 32 + l];
        out[o + 48 + 32 * c + l] = (l1 & 0xf) | ((l2 & 0xf) << 4);
        out[o + 16 + l] |= ((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1));
      }
    }
  }
  return out;
}

export function dequantizeQ5_K(bytes: Uint8Array, n: number): Float32Array {
  checkBytes('Q5_K', bytes, n, Q5_K_BYTES);
  const y = new Float32Array(n);
  for (let b = 0; b < n / QK_K; b++) {
    const o = b * Q5_K_BYTES;
    const d = f16At(bytes, o);
    const dmin = f16At(bytes, o + 2);
    for (let c = 0; c < 4; c++) {
      const [sc1, m1] = scaleMinK4(2 * c, bytes, o + 4);
      const [sc2, m2] = scaleMinK4(2 * c + 1, bytes, o + 4);
      const d1 = fr(d * sc1), min1 = fr(dmin * m1);
      const d2 = fr(d * sc2), min2 = fr(dmin * m2);
      const q = o + 48 + 32 * c;
      const base = b * QK_K + 64 * c;
      for (let l = 0; l < 32; l++) {
        const h = bytes[o + 16 + l];
        y[base + l] = fr(d1 * ((bytes[q + l] & 0xf) + ((h >> (2 * c)) & 1) * 16)) - min1;
        y[base + 32 + l] = fr(d2 * ((bytes[q + l] >> 4) + ((h >> (2 * c + 1)) & 1) * 16)) - min2;
      }
    }
  }
  return y;
}

// ---- Q6_K --------------------------------------------------------------------------------------

/** ggml's make_qx_quants with rmse_type 1 and no importance weights (weights x^2): a symmetric scale
 *  for L in [-nmax, nmax-1], stored offset by nmax. Returns the scale. */
function makeQxQuants(n: number, nmax: number, x: Float32Array, L: Uint8Array): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, 0, n);
    return 0;
  }
  const level = (iscale: number, v: number) => clamp(nearestInt(fr(iscale * v)), -nmax, nmax - 1);
  let iscale = fr(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = level(iscale, x[i]);
    L[i] = l + nmax;
    const w = fr(x[i] * x[i]);
    sumlx = fr(sumlx + fr(fr(w * x[i]) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(TENTH * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const l = level(iscale, x[i]);
      const w = fr(x[i] * x[i]);
      sumlx = fr(sumlx + fr(fr(w * x[i]) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) L[i] = nmax + level(iscale, x[i]);
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

export function quantizeQ6_K(src: Float32Array): Uint8Array {
  checkSource('Q6_K', src);
  const nb = src.length / QK_K;
  const out = new Uint8Array(nb * Q6_K_BYTES);
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  for (let b = 0; b < nb; b++) {
    const x = src.subarray(b * QK_K, (b + 1) * QK_K);
    const o = b * Q6_K_BYTES;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      scales[ib] = makeQxQuants(16, 32, x.subarray(16 * ib, 16 * ib + 16), L.subarray(16 * ib, 16 * ib + 16));
      const a = Math.abs(scales[ib]);
      if (a > maxAbsScale) {
        maxAbsScale = a;
        maxScale = scales[ib];
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue; // an all-zero block: every byte 0, d = +0
    const iscale = fr(-128 / maxScale);
    setF16(out, o + 208, fr(1 / iscale));
    const d = f16At(out, o + 208);
    const sc = new Int8Array(out.buffer, out.byteOffset + o + 192, 16);
    for (let ib = 0; ib < 16; ib++) sc[ib] = Math.min(127, nearestInt(fr(iscale * scales[ib])));
    for (let j = 0; j < 16; j++) {
      const dj = fr(d * sc[j]);
      if (dj === 0) continue;
      for (let i = 0; i < 16; i++) L[16 * j + i] = clamp(nearestInt(fr(x[16 * j + i] / dj)), -32, 31) + 32;
    }
    // Each half of 128 values: ql[64] holds low nibbles (values l, l+32 low; l+64, l+96 high) and
    // qh[32] holds the top 2 bits of values l, l+32, l+64, l+96 at bit pairs 0, 2, 4, 6 of byte l.
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h;
      const qh = o + 128 + 32 * h;
      for (let l = 0; l < 32; l++) {
        const v0 = L[128 * h + l], v1 = L[128 * h + l + 32], v2 = L[128 * h + l + 64], v3 = L[128 * h + l + 96];
        out[ql + l] = (v0 & 0xf) | ((v2 & 0xf) << 4);
        out[ql + 32 + l] = (v1 & 0xf) | ((v3 & 0xf) << 4);
        out[qh + l] = (v0 >> 4) | ((v1 >> 4) << 2) | ((v2 >> 4) << 4) | ((v3 >> 4) << 6);
      }
    }
  }
  return out;
}

export function dequantizeQ6_K(bytes: Uint8Array, n: number): Float32Array {
  checkBytes('Q6_K', bytes, n, Q6_K_BYTES);
  const y = new Float32Array(n);
  for (let b = 0; b < n / QK_K; b++) {
    const o = b * Q6_K_BYTES;
    const d = f16At(bytes, o + 208);
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h;
      const qh = o + 128 + 32 * h;
      const sc = o + 192 + 8 * h;
      const base = b * QK_K + 128 * h;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const hb = bytes[qh + l];
        const q1 = ((bytes[ql + l] & 0xf) | ((hb & 3) << 4)) - 32;
        const q2 = ((bytes[ql + 32 + l] & 0xf) | (((hb >> 2) & 3) << 4)) - 32;
        const q3 = ((bytes[ql + l] >> 4) | (((hb >> 4) & 3) << 4)) - 32;
        const q4 = ((bytes[ql + 32 + l] >> 4) | (((hb >> 6) & 3) << 4)) - 32;
        const s = (k: number) => ((bytes[sc + is + k] << 24) >> 24); // int8
        y[base + l] = fr(d * s(0)) * q1;
        y[base + 32 + l] = fr(d * s(2)) * q2;
        y[base + 64 + l] = fr(d * s(4)) * q3;
        y[base + 96 + l] = fr(d * s(6)) * q4;
      }
    }
  }
  return y;
}
