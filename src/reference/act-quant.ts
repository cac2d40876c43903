// What llama.cpp's activation quantizers make of each value, decoded back to f32; every step in f32
// arithmetic as the C code does it. q8_0 follows ggml-cpu's x86 quantize_row_q8_0 (the AVX/AVX2 code the
// oracle runs: id = 127 / amax, round half to even), which differs from quantize_row_q8_0_ref (id = 1 / d,
// roundf: half away from zero) on exact halfway points and where the two ids differ in the last bit.
// ARM NEON rounds half to even too but takes id = 1 / d. q8_K is quantize_row_q8_K_ref (the x86 build
// uses it as is); f16 is FP32_TO_FP16.

import { roundF16 } from '../formats/f16.ts';

export type ActQuantRefMode = 'q8_0' | 'q8_K' | 'f16';

const fr = Math.fround;

/** Round to nearest, ties to even: ggml's nearest_int (it adds 1.5 * 2^23 in f32) and
 *  _mm256_round_ps(_MM_ROUND_NEAREST). */
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
      const id = amax ? fr(127 / amax) : 0;
      const dh = roundF16(d);
      for (let j = 0; j < block; j++) {
        scaled[b + j] = fr(x[b + j] * id);
        out[b + j] = roundEven(scaled[b + j]) * dh;
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
