// GGML tensor types as they appear in GGUF files: ids, names and block layouts.
// A quantized row of K values is stored as K / blockSize blocks of blockBytes each, back to back.

export const GGML_TYPE = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q8_1: 9,
  Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14, Q8_K: 15,
  IQ2_XXS: 16, IQ2_XS: 17, IQ3_XXS: 18, IQ1_S: 19, IQ4_NL: 20, IQ3_S: 21, IQ2_S: 22, IQ4_XS: 23,
  I8: 24, I16: 25, I32: 26, I64: 27, F64: 28, IQ1_M: 29, BF16: 30,
} as const;

export type GgmlTypeName = keyof typeof GGML_TYPE;

/** Element-count and byte-count of one block. Only the types edgewise can read are listed. */
export const GGML_BLOCK: Partial<Record<GgmlTypeName, { blockSize: number; blockBytes: number }>> = {
  F32: { blockSize: 1, blockBytes: 4 },
  F16: { blockSize: 1, blockBytes: 2 },
  BF16: { blockSize: 1, blockBytes: 2 },
  Q4_0: { blockSize: 32, blockBytes: 18 },
  Q4_1: { blockSize: 32, blockBytes: 20 },
  Q5_0: { blockSize: 32, blockBytes: 22 },
  Q5_1: { blockSize: 32, blockBytes: 24 },
  Q8_0: { blockSize: 32, blockBytes: 34 },
  Q2_K: { blockSize: 256, blockBytes: 84 },
  Q3_K: { blockSize: 256, blockBytes: 110 },
  Q4_K: { blockSize: 256, blockBytes: 144 },
  Q5_K: { blockSize: 256, blockBytes: 176 },
  Q6_K: { blockSize: 256, blockBytes: 210 },
  Q8_K: { blockSize: 256, blockBytes: 292 },
  I8: { blockSize: 1, blockBytes: 1 },
  I16: { blockSize: 1, blockBytes: 2 },
  I32: { blockSize: 1, blockBytes: 4 },
  I64: { blockSize: 1, blockBytes: 8 },
  F64: { blockSize: 1, blockBytes: 8 },
};

export function ggmlTypeName(id: number): GgmlTypeName | undefined {
  for (const [name, v] of Object.entries(GGML_TYPE)) if (v === id) return name as GgmlTypeName;
  return undefined;
}

/** Bytes used by `count` elements of `type` (count must be a whole number of blocks). */
export function ggmlByteSize(type: GgmlTypeName, count: number): number {
  const b = GGML_BLOCK[type];
  if (!b) throw new Error(`unknown block layout for ${type}`);
  if (count % b.blockSize !== 0) throw new Error(`${count} elements is not a whole number of ${type} blocks of ${b.blockSize}`);
  return (count / b.blockSize) * b.blockBytes;
}
