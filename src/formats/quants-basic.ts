// The 32-element block formats Q8_0, Q4_0 and Q4_1: quantizers that round exactly as ggml's reference
// quantizers (quantize_row_*_ref in ggml-quants.c) do, in f32 arithmetic, and the matching dequantizers.
// Rows simply concatenate: a row of K values is K / 32 blocks back to back.
//
//   Q8_0  (34 bytes): f16 d | 32 x int8 q            value = q * d
//   Q4_0  (18 bytes): f16 d | 16 bytes of nibbles    value = (q - 8) * d
//   Q4_1  (20 bytes): f16 d | f16 m | 16 bytes       value = q * d + m
// In the 4-bit formats element j of a block is the low nibble of byte j and element j + 16 the high nibble.

import { f16BitsToF32, f32ToF16Bits } from './f16.ts';

const QK = 32;
const fr = Math.fround;

function blockCount(what: string, n: number): number {
  if (n % QK !== 0) throw new RangeError(`${what}: ${n} values is not a whole number of ${QK}-element blocks`);
  return n / QK;
}

function checkBytes(what: string, bytes: Uint8Array, n: number, blockBytes: number): number {
  const nb = blockCount(what, n);
  if (bytes.byteLength < nb * blockBytes) throw new RangeError(`${what}: ${bytes.byteLength} bytes given, ${n} values need ${nb * blockBytes}`);
  return nb;
}

/** C's roundf: halfway cases away from zero. */
function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

const putF16 = (out: Uint8Array, at: number, v: number) => {
  const h = f32ToF16Bits(v);
  out[at] = h & 0xff;
  out[at + 1] = h >>> 8;
};
const getF16 = (b: Uint8Array, at: number) => f16BitsToF32(b[at] | (b[at + 1] << 8));

// ---- Q8_0 ---------------------------------------------------------------------------------------

export function quantizeQ8_0(src: Float32Array): Uint8Array {
  const nb = blockCount('quantizeQ8_0', src.length);
  const out = new Uint8Array(nb * 34);
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(src[i * QK + j]));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    putF16(out, i * 34, d);
    for (let j = 0; j < QK; j++) out[i * 34 + 2 + j] = roundAway(fr(src[i * QK + j] * id)) & 0xff;
  }
  return out;
}

export function dequantizeQ8_0(bytes: Uint8Array, n: number): Float32Array {
  const nb = checkBytes('dequantizeQ8_0', bytes, n, 34);
  const out = new Float32Array(n);
  for (let i = 0; i < nb; i++) {
    const d = getF16(bytes, i * 34);
    for (let j = 0; j < QK; j++) out[i * QK + j] = ((bytes[i * 34 + 2 + j] << 24) >> 24) * d;
  }
  return out;
}

// ---- Q4_0 ---------------------------------------------------------------------------------------

export function quantizeQ4_0(src: Float32Array): Uint8Array {
  const nb = blockCount('quantizeQ4_0', src.length);
  const out = new Uint8Array(nb * 18);
  for (let i = 0; i < nb; i++) {
    // The signed value of largest magnitude (the first one on ties) sets the scale, so it maps to -8.
    let amax = 0, max = 0;
    for (let j = 0; j < QK; j++) {
      const v = src[i * QK + j];
      if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    putF16(out, i * 18, d);
    // (int8_t)(x + 8.5f) truncates toward zero; MIN(15, .) catches the one value that reaches 16.
    const q = (v: number) => Math.min(15, Math.trunc(fr(fr(v * id) + 8.5)));
    for (let j = 0; j < QK / 2; j++) out[i * 18 + 2 + j] = q(src[i * QK + j]) | (q(src[i * QK + j + 16]) << 4);
  }
  return out;
}

export function dequantizeQ4_0(bytes: Uint8Array, n: number): Float32Array {
  const nb = checkBytes('dequantizeQ4_0', bytes, n, 18);
  const out = new Float32Array(n);
  for (let i = 0; i < nb; i++) {
    const d = getF16(bytes, i * 18);
    for (let j = 0; j < QK / 2; j++) {
      const b = bytes[i * 18 + 2 + j];
      out[i * QK + j] = ((b & 15) - 8) * d;
      out[i * QK + j + 16] = ((b >> 4) - 8) * d;
    }
  }
  return out;
}

// ---- Q4_1 ---------------------------------------------------------------------------------------

export function quantizeQ4_1(src: Float32Array): Uint8Array {
  const nb = blockCount('quantizeQ4_1', src.length);
  const out = new Uint8Array(nb * 20);
  for (let i = 0; i < nb; i++) {
    let min = Infinity, max = -Infinity;
    for (let j = 0; j < QK; j++) {
      const v = src[i * QK + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = fr(fr(max - min) / 15);
    const id = d ? fr(1 / d) : 0;
    putF16(out, i * 20, d);
    putF16(out, i * 20 + 2, min);
    const q = (v: number) => Math.min(15, Math.trunc(fr(fr(fr(v - min) * id) + 0.5)));
    for (let j = 0; j < QK / 2; j++) out[i * 20 + 4 + j] = q(src[i * QK + j]) | (q(src[i * QK + j + 16]) << 4);
  }
  return out;
}

export function dequantizeQ4_1(bytes: Uint8Array, n: number): Float32Array {
  const nb = checkBytes('dequantizeQ4_1', bytes, n, 20);
  const out = new Float32Array(n);
  for (let i = 0; i < nb; i++) {
    const d = getF16(bytes, i * 20);
    const m = getF16(bytes, i * 20 + 2);
    for (let j = 0; j < QK / 2; j++) {
      const b = bytes[i * 20 + 4 + j];
      out[i * QK + j] = fr((b & 15) * d) + m;
      out[i * QK + j + 16] = fr((b >> 4) * d) + m;
    }
  }
  return out;
}
