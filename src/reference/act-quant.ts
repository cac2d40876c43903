// What llama.cpp's activation quantizers (quantize_row_q8_0_ref, quantize_row_q8_K_ref, FP32_TO_FP16)
// make of each value, decoded back to f32; every step in f32 arithmetic as the C code does it.

import { roundF16 } from '../formats/f16.ts';

export type ActQuantRefMode = 'q8_0' | 'q8_K' | 'f16';

const fr = Math.fround;

/** C's roundf: halfway cases away from zero. */
const roundAway = (v: number) => (v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5));

/** ggml's nearest_int: round to nearest, ties to even (it adds 1.5 * 2^23 in f32). */
function roundEven(v: number): number {
  const f = Math.floor(v);
  const r = v - f;
  return r > 0.5 || (r === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/** The rounded values, and (for the q8 modes) the scaled values x / d that were rounded to integers. */
export function fakeQuantActRef(x: Float32Array, mode: ActQuantRefMode): { out: Float32Array; scaled: Float32Array } {
  const out = new Float32Array(x.length);
  const scaled = new Float32Array(x.length).fill(NaN);
  if (mode === 'f16') {
    for (let i = 0; i < x.length; i++) out[i] = roundF16(x[i]);
    return { out, scaled };
  }
  const block = mode === 'q8_0' ? 32 : 256;
  if (x.length % block !== 0) throw new RangeError(`fakeQuantActRef: ${x.length} values is not a whole number of ${mode} blocks of ${block}`);
  for (let b = 0; b < x.length; b += block) {
    let amax = 0, max = 0;
    for (let j = 0; j < block; j++) {
      const ax = Math.abs(x[b + j]);
      if (ax > amax) { amax = ax; max = x[b + j]; }
    }
    if (mode === 'q8_0') {
      const d = fr(amax / 127);
      const id = d ? fr(1 / d) : 0;
      const dh = roundF16(d);
      for (let j = 0; j < block; j++) {
        scaled[b + j] = fr(x[b + j] * id);
        out[b + j] = roundAway(scaled[b + j]) * dh;
      }
    } else {
      if (amax === 0) continue; // d = 0, all quants 0
      const iscale = fr(-127 / max);
      const d = fr(1 / iscale);
      for (let j = 0; j < block; j++) {
        scaled[b + j] = fr(iscale * x[b + j]);
        out[b + j] = Math.min(127, roundEven(scaled[b + j])) * d;
      }
    }
  }
  return { out, scaled };
}
