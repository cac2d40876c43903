// Random-weight GGUF files of real model sizes (a Llama-3.1-8B shape is 4.5 GB in Q4_0), written to
// disk piece by piece: the header from the model's plan, then each tensor in chunks of rows, so no more
// than one chunk of tensor data is in memory at once. Node only.
//
// Matrices in Q4_0, Q8_0 and Q4_K are written as random quant blocks with one fixed scale per tensor,
// chosen so the decoded values have the plan's standard deviation: drawing floats and quantizing them
// as randomModelSpec does would take minutes per gigabyte in JavaScript, and a benchmark only needs the
// bytes and a sane value range (finite scales, no NaN). Other types, and every norm and bias, take
// their values from the plan's generators (one seeded Rng in plan order, so not randomModelSpec's exact
// numbers when block-written matrices skip their draws). The file is a pure function of the options.

import { open } from 'node:fs/promises';
import { f32ToF16Bits } from '../formats/f16.ts';
import { GGML_BLOCK, type GgmlTypeName } from '../formats/ggml-types.ts';
import { ggufHeader } from '../formats/gguf-writer.ts';
import { quantize } from '../formats/quantize.ts';
import { randomModelPlan, type RandomModelOptions, type RandomTensorPlan } from './random-model.ts';
import { Rng } from './rng.ts';

/** Tensor data is generated and written in pieces of about this many bytes. */
const CHUNK_BYTES = 8 << 20;

/**
 * Standard deviation of a decoded value per unit of block scale d, with every quant field uniformly
 * random: Q4_0 d*(q-8), q in 0..15; Q8_0 d*q, q in -128..127; Q4_K d*sc*q - dmin*m with 6-bit sc and m,
 * dmin = 7.5 d (which centres the values), so var = d^2 (var(sc*q) + 7.5^2 var(m)).
 */
const STD_PER_SCALE: Partial<Record<GgmlTypeName, number>> = {
  Q4_0: Math.sqrt((16 * 16 - 1) / 12),
  Q8_0: Math.sqrt((256 * 256 - 1) / 12),
  Q4_K: Math.sqrt((63 * 127) / 6 * 77.5 - (31.5 * 7.5) ** 2 + 7.5 ** 2 * ((64 * 64 - 1) / 12)),
};

/** Types whose matrices are written as random blocks (the fast path). */
export const RANDOM_BLOCK_TYPES: readonly GgmlTypeName[] = Object.keys(STD_PER_SCALE) as GgmlTypeName[];

export interface RandomModelFile {
  path: string;
  bytes: number;
  ms: number;
}

/** Write the model to `path` (overwriting it); `onProgress` gets bytes written so far and the total. */
export async function writeRandomModelFile(
  path: string, o: RandomModelOptions, onProgress?: (written: number, total: number) => void,
): Promise<RandomModelFile> {
  const t0 = performance.now();
  const plan = randomModelPlan(o);
  const head = ggufHeader({ metadata: plan.metadata, tensors: plan.tensors });
  const total = head.header.length + head.dataBytes.reduce((s, n, i) => s + n + head.padding[i], 0);
  const rng = new Rng(o.seed);
  const file = await open(path, 'w');
  let written = 0;
  const put = async (b: Uint8Array) => {
    let done = 0;
    while (done < b.length) done += (await file.write(b, done, b.length - done)).bytesWritten;
    written += b.length;
  };
  try {
    await put(head.header);
    for (let i = 0; i < plan.tensors.length; i++) {
      const t = plan.tensors[i];
      let n = 0;
      for (const chunk of tensorChunks(t, rng, o.seed * 1009 + i)) {
        await put(chunk);
        n += chunk.length;
      }
      if (n !== head.dataBytes[i]) throw new Error(`random model file: tensor '${t.name}' wrote ${n} bytes, its layout takes ${head.dataBytes[i]}`);
      if (head.padding[i]) await put(new Uint8Array(head.padding[i]));
      onProgress?.(written, total);
    }
  } finally {
    await file.close();
  }
  return { path, bytes: written, ms: performance.now() - t0 };
}

/** A tensor's bytes in pieces of whole rows. */
function* tensorChunks(t: RandomTensorPlan, rng: Rng, blockSeed: number): Generator<Uint8Array> {
  const perScale = STD_PER_SCALE[t.type];
  if (t.shape.length === 2 && perScale !== undefined) {
    const [rows, cols] = t.shape;
    const b = GGML_BLOCK[t.type]!;
    const rowBytes = (cols / b.blockSize) * b.blockBytes;
    const rowsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / rowBytes));
    const bits = new Xorshift(blockSeed);
    const d = f32ToF16Bits(t.std / perScale);
    const dmin = f32ToF16Bits((7.5 * t.std) / perScale);
    for (let r = 0; r < rows; r += rowsPerChunk) {
      const n = Math.min(rowsPerChunk, rows - r);
      const out = bits.bytes(n * rowBytes);
      const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
      for (let at = 0; at < out.length; at += b.blockBytes) {
        view.setUint16(at, d, true); // Q4_0, Q8_0, Q4_K: d first
        if (t.type === 'Q4_K') view.setUint16(at + 2, dmin, true);
      }
      yield out;
    }
    return;
  }
  // Everything else as randomModelSpec draws it, quantized a tensor at a time.
  yield quantize(t.type, t.values(rng));
}

/** xorshift32 filling whole words: random bytes at memory speed. */
class Xorshift {
  private s: number;
  constructor(seed: number) {
    this.s = (seed >>> 0) || 0x2545f491;
  }
  bytes(n: number): Uint8Array {
    const words = new Uint32Array(Math.ceil(n / 4));
    let s = this.s;
    for (let i = 0; i < words.length; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      words[i] = s;
    }
    this.s = s;
    return new Uint8Array(words.buffer, 0, n);
  }
}
