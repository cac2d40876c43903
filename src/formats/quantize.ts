// Quantize / dequantize by GGML type name. Quantizers follow ggml's reference rounding
// (quantize_row_*_ref) so test weights match what llama.cpp's tools would write.

import type { GgmlTypeName } from './ggml-types.ts';
import { f16ArrayToF32, f32ArrayToF16 } from './f16.ts';
import {
  dequantizeQ4_0, dequantizeQ4_1, dequantizeQ8_0, quantizeQ4_0, quantizeQ4_1, quantizeQ8_0,
} from './quants-basic.ts';
import {
  dequantizeQ4_K, dequantizeQ5_K, dequantizeQ6_K, quantizeQ4_K, quantizeQ5_K, quantizeQ6_K,
} from './quants-k.ts';

type Codec = { quantize: (src: Float32Array) => Uint8Array; dequantize: (bytes: Uint8Array, n: number) => Float32Array };

const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export const CODECS: Partial<Record<GgmlTypeName, Codec>> = {
  F32: { quantize: (s) => asBytes(Float32Array.from(s)), dequantize: (b, n) => new Float32Array(b.slice(0, 4 * n).buffer) },
  F16: {
    quantize: (s) => asBytes(f32ArrayToF16(s)),
    dequantize: (b, n) => f16ArrayToF32(new Uint16Array(b.slice(0, 2 * n).buffer)),
  },
  Q8_0: { quantize: quantizeQ8_0, dequantize: dequantizeQ8_0 },
  Q4_0: { quantize: quantizeQ4_0, dequantize: dequantizeQ4_0 },
  Q4_1: { quantize: quantizeQ4_1, dequantize: dequantizeQ4_1 },
  Q4_K: { quantize: quantizeQ4_K, dequantize: dequantizeQ4_K },
  Q5_K: { quantize: quantizeQ5_K, dequantize: dequantizeQ5_K },
  Q6_K: { quantize: quantizeQ6_K, dequantize: dequantizeQ6_K },
};

function codec(type: GgmlTypeName): Codec {
  const c = CODECS[type];
  if (!c) throw new Error(`no quantizer for ${type} (have ${Object.keys(CODECS).join(', ')})`);
  return c;
}

export function quantize(type: GgmlTypeName, src: Float32Array): Uint8Array {
  return codec(type).quantize(src);
}

export function dequantize(type: GgmlTypeName, bytes: Uint8Array, n: number): Float32Array {
  return codec(type).dequantize(bytes, n);
}
