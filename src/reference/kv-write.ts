import { f32ToF16Bits } from '../formats/f16.ts';

/** The cache after writing `src` rows at token offsetTokens: F32 as is, F16 as half bits (round to nearest even). */
export function writeKvRef(cache: Float32Array | Uint16Array, src: Float32Array, rowElems: number, offsetTokens: number): Float32Array | Uint16Array {
  const out = cache.slice();
  const base = offsetTokens * rowElems;
  for (let i = 0; i < src.length; i++) out[base + i] = out instanceof Uint16Array ? f32ToF16Bits(src[i]) : src[i];
  return out;
}
