// F32 <-> F16 as ggml converts: round to nearest even, overflow to inf, subnormals exact.
import { f16BitsToF32, f32ToF16Bits } from '../formats/f16.ts';

/** F16 bits of each value. */
export function castToF16Ref(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f32ToF16Bits(x[i]);
  return out;
}

/** The f32 value of each F16 bit pattern. */
export function castToF32Ref(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = f16BitsToF32(h[i]);
  return out;
}
