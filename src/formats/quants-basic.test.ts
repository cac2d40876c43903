import { describe, expect, it } from 'vitest';
import {
  dequantizeQ4_0, dequantizeQ4_1, dequantizeQ8_0, quantizeQ4_0, quantizeQ4_1, quantizeQ8_0,
} from './quants-basic.ts';
import { f16BitsToF32, f32ToF16Bits } from './f16.ts';
import { Rng } from '../testing/rng.ts';

const F16_ONE = [0x00, 0x3c];
const F16_HALF = [0x00, 0x38];
const F16_MINUS_ONE = [0x00, 0xbc];

/** 32 values from a sparse list of [index, value]; the rest are `fill`. */
function block(entries: [number, number][], fill = 0): Float32Array {
  const b = new Float32Array(32).fill(fill);
  for (const [i, v] of entries) b[i] = v;
  return b;
}

describe('Q8_0', () => {
  it('decodes a hand-built block exactly', () => {
    const qs = [0, 1, -1, 127, -128, 5, -7, 64];
    const bytes = new Uint8Array(34);
    bytes.set(F16_HALF, 0);
    qs.forEach((q, j) => { bytes[2 + j] = q & 0xff; });
    const want = new Float32Array(32);
    qs.forEach((q, j) => { want[j] = q * 0.5; });
    expect(Array.from(dequantizeQ8_0(bytes, 32))).toEqual(Array.from(want));
  });

  it('quantizes known values to the exact bytes, rounding halves away from zero (roundf)', () => {
    // amax 127 makes d = 1 and id = 1, so q = roundf(x).
    const x = block([[0, 127], [1, -127], [2, 0.5], [3, -0.5], [4, 1.5], [5, 2.5], [6, -2.5], [7, 0.49999997], [8, 126.6]]);
    const want = new Uint8Array(34);
    want.set(F16_ONE, 0);
    [127, -127, 1, -1, 2, 3, -3, 0, 127].forEach((q, j) => { want[2 + j] = q & 0xff; });
    expect(Array.from(quantizeQ8_0(x))).toEqual(Array.from(want));
    // An all-zero block has d = 0 and all-zero quants.
    expect(Array.from(quantizeQ8_0(new Float32Array(32)))).toEqual(new Array(34).fill(0));
  });

  it('round-trips within half a step (plus the f16 rounding of d)', () => {
    const rng = new Rng(11);
    const x = rng.f32(32 * 40, 3);
    const y = dequantizeQ8_0(quantizeQ8_0(x), x.length);
    for (let b = 0; b < 40; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
      const d = amax / 127;
      for (let j = 0; j < 32; j++) expect(Math.abs(y[b * 32 + j] - x[b * 32 + j])).toBeLessThanOrEqual(d * (0.5 + 127 * 2 ** -11));
    }
  });
});

describe('Q4_0', () => {
  it('decodes a hand-built block exactly: element j low nibble of byte j, j + 16 the high nibble', () => {
    const bytes = new Uint8Array(18);
    bytes.set(F16_HALF, 0);
    bytes[2] = 0x80; // element 0 -> (0 - 8) * 0.5, element 16 -> (8 - 8) * 0.5
    bytes[3] = 0xf1; // element 1 -> -3.5, element 17 -> 3.5
    bytes[17] = 0x5a; // element 15 -> 1, element 31 -> -1.5
    const want = new Float32Array(32).fill(-4); // nibble 0 everywhere else
    want[0] = -4; want[16] = 0; want[1] = -3.5; want[17] = 3.5; want[15] = 1; want[31] = -1.5;
    expect(Array.from(dequantizeQ4_0(bytes, 32))).toEqual(Array.from(want));
  });

  it('quantizes known values to the exact bytes', () => {
    // The value of largest magnitude is -8, so d = -8 / -8 = 1 and q = MIN(15, trunc(x + 8.5)).
    const x = block([[0, -8], [1, 7], [2, 7.6], [3, 0.5], [4, -0.5], [5, 1.4], [16, 3], [17, -7.9]]);
    const want = new Uint8Array(18);
    want.set(F16_ONE, 0);
    const q = new Array(32).fill(8);
    [[0, 0], [1, 15], [2, 15], [3, 9], [4, 8], [5, 9], [16, 11], [17, 0]].forEach(([j, v]) => { q[j] = v; });
    for (let j = 0; j < 16; j++) want[2 + j] = q[j] | (q[j + 16] << 4);
    expect(Array.from(quantizeQ4_0(x))).toEqual(Array.from(want));
  });

  it('takes the sign of the first value of largest magnitude', () => {
    // -4 comes before +4: d = -4 / -8 = 0.5, so +4 lands on q = MIN(15, 16) = 15.
    const bytes = quantizeQ4_0(block([[0, -4], [1, 4]]));
    expect([bytes[0], bytes[1]]).toEqual(F16_HALF);
    expect(bytes[2] & 15).toBe(0);
    expect(bytes[3] & 15).toBe(15);
    // +4 first: d = -0.5, +4 -> q 0 and -4 -> 16 clamped to 15.
    const neg = quantizeQ4_0(block([[0, 4], [1, -4]]));
    expect(f16BitsToF32(neg[0] | (neg[1] << 8))).toBe(-0.5);
    expect(neg[2] & 15).toBe(0);
    expect(neg[3] & 15).toBe(15);
    // All zeros: d = 0.0f / -8 = -0.0f (f16 0x8000, as ggml writes it), every nibble trunc(0 + 8.5) = 8.
    expect(Array.from(quantizeQ4_0(new Float32Array(32)))).toEqual([0x00, 0x80, ...new Array(16).fill(0x88)]);
  });

  it('round-trips within one step (the clamp at 15 costs a full step on the positive side)', () => {
    const rng = new Rng(12);
    const x = rng.f32(32 * 40, 2);
    const y = dequantizeQ4_0(quantizeQ4_0(x), x.length);
    for (let b = 0; b < 40; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
      const d = amax / 8;
      for (let j = 0; j < 32; j++) expect(Math.abs(y[b * 32 + j] - x[b * 32 + j])).toBeLessThanOrEqual(d * (1 + 8 * 2 ** -11));
    }
  });
});

describe('Q4_1', () => {
  it('decodes a hand-built block exactly', () => {
    const bytes = new Uint8Array(20);
    bytes.set(F16_HALF, 0);
    bytes.set(F16_MINUS_ONE, 2);
    bytes[4] = 0xf0; // element 0 -> 0 * 0.5 - 1, element 16 -> 15 * 0.5 - 1
    bytes[19] = 0x37; // element 15 -> 7 * 0.5 - 1, element 31 -> 3 * 0.5 - 1
    const want = new Float32Array(32).fill(-1);
    want[16] = 6.5; want[15] = 2.5; want[31] = 0.5;
    expect(Array.from(dequantizeQ4_1(bytes, 32))).toEqual(Array.from(want));
  });

  it('quantizes known values to the exact bytes', () => {
    // min -1, max 14: d = 15 / 15 = 1, m = -1, q = MIN(15, trunc(x + 1 + 0.5)).
    const x = block([[0, -1], [1, 14], [2, 0.4], [3, 0.5], [16, 13.6], [17, 2.49]]);
    const want = new Uint8Array(20);
    want.set(F16_ONE, 0);
    want.set(F16_MINUS_ONE, 2);
    const q = new Array(32).fill(1); // 0 -> trunc(1.5) = 1
    [[0, 0], [1, 15], [2, 1], [3, 2], [16, 15], [17, 3]].forEach(([j, v]) => { q[j] = v; });
    for (let j = 0; j < 16; j++) want[4 + j] = q[j] | (q[j + 16] << 4);
    expect(Array.from(quantizeQ4_1(x))).toEqual(Array.from(want));
    // A constant block: d = 0, m = the constant, all quants 0.
    const c = quantizeQ4_1(new Float32Array(32).fill(3));
    expect(Array.from(c.slice(0, 4))).toEqual([0, 0, f32ToF16Bits(3) & 0xff, f32ToF16Bits(3) >> 8]);
    expect(Array.from(c.slice(4))).toEqual(new Array(16).fill(0));
  });

  it('round-trips within half a step (plus the f16 rounding of d and m)', () => {
    const rng = new Rng(13);
    const x = rng.f32(32 * 40, 2);
    const y = dequantizeQ4_1(quantizeQ4_1(x), x.length);
    for (let b = 0; b < 40; b++) {
      let min = Infinity, max = -Infinity;
      for (let j = 0; j < 32; j++) { min = Math.min(min, x[b * 32 + j]); max = Math.max(max, x[b * 32 + j]); }
      const d = (max - min) / 15;
      const bound = d * (0.5 + 15 * 2 ** -11) + Math.abs(min) * 2 ** -11;
      for (let j = 0; j < 32; j++) expect(Math.abs(y[b * 32 + j] - x[b * 32 + j])).toBeLessThanOrEqual(bound);
    }
  });
});

describe('block-format arguments', () => {
  it('refuses lengths that are not whole blocks', () => {
    expect(() => quantizeQ8_0(new Float32Array(33))).toThrow(/33 values/);
    expect(() => dequantizeQ4_0(new Uint8Array(18), 64)).toThrow(/64 values need 36/);
  });
});
