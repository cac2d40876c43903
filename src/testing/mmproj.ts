// Test fixtures for the vision path: the shared tinygemma3 mmproj, variants of it rewritten with other
// metadata or tensor types (pooling on, a quantized projection, bad files), and the torch oracle.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytesSource, openGguf, type Gguf, type GgufValue } from '../formats/gguf.ts';
import { openGgufPath } from '../formats/gguf-node.ts';
import { writeGguf, type GgufWriterTensor } from '../formats/gguf-writer.ts';
import { dequantize, quantize } from '../formats/quantize.ts';
import type { GgmlTypeName } from '../formats/ggml-types.ts';
import type { PixelTensor } from '../vision/encoder.ts';
import { randomModelSpec } from './random-model.ts';

export const TINY_MMPROJ = fileURLToPath(new URL('../../../shared/models/mmproj-tinygemma3.gguf', import.meta.url));

export interface MmprojContents {
  metadata: Map<string, GgufValue>;
  tensors: GgufWriterTensor[];
}

export async function readMmproj(path = TINY_MMPROJ): Promise<MmprojContents> {
  const g = await openGgufPath(path);
  try {
    const tensors: GgufWriterTensor[] = [];
    for (const t of g.tensors) tensors.push({ name: t.name, shape: t.shape, type: t.type, data: await g.readTensorBytes(t) });
    return { metadata: new Map(g.metadata), tensors };
  } finally {
    await g.close();
  }
}

export interface MmprojEdit {
  /** Metadata to set (a value) or remove (null). */
  metadata?: Record<string, GgufValue | null>;
  /** Tensors to drop. */
  drop?: string[];
  /** Tensors to add. */
  add?: GgufWriterTensor[];
  /** Tensors to store in another type (values requantized). */
  retype?: Record<string, GgmlTypeName>;
}

/** The mmproj's bytes with edits applied. */
export function editMmproj(src: MmprojContents, edit: MmprojEdit): Uint8Array {
  const metadata = new Map(src.metadata);
  for (const [k, v] of Object.entries(edit.metadata ?? {})) {
    if (v === null) metadata.delete(k);
    else metadata.set(k, v);
  }
  const drop = new Set(edit.drop ?? []);
  const tensors = src.tensors.filter((t) => !drop.has(t.name)).map((t) => {
    const to = edit.retype?.[t.name];
    if (!to || to === t.type) return t;
    const n = t.shape.reduce((a, d) => a * d, 1);
    return { name: t.name, shape: t.shape, type: to, data: quantize(to, dequantize(t.type, t.data!, n)) };
  });
  return writeGguf({ metadata, tensors: [...tensors, ...(edit.add ?? [])] });
}

export function openMmprojBytes(bytes: Uint8Array, name = 'mmproj-variant.gguf'): Promise<Gguf> {
  return openGguf(bytesSource(bytes, name));
}

// ---------------------------------------------------------------- the torch oracle

const ORACLE = fileURLToPath(new URL('./clip_torch_oracle.py', import.meta.url));
/** Debian's interpreter: python3-torch installs for it (a pyenv or venv python3 earlier on PATH would not see it). */
const PYTHON = '/usr/bin/python3';

/** Why the torch oracle cannot run here, or null when it can. */
export function torchUnavailable(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON}: ${r.error.message}`;
  if (r.status !== 0) return `${PYTHON} cannot import torch and numpy (apt-get install python3-torch; scripts/setup.sh does): ${r.stderr.trim().split('\n').pop()}`;
  return null;
}

/** Image -> embeddings computed by src/testing/clip_torch_oracle.py in float64 for the mmproj at `path`. */
export function torchEmbeddings(path: string, img: PixelTensor): Float32Array {
  const dir = mkdtempSync(join(tmpdir(), 'edgewise-clip-'));
  const pix = join(dir, 'pixels.f32'), out = join(dir, 'out.f32');
  writeFileSync(pix, new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength));
  const r = spawnSync(PYTHON, [ORACLE, path, pix, String(img.width), String(img.height), out], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`torch oracle failed (exit ${r.status}): ${r.stderr || r.error?.message}`);
  const bytes = readFileSync(out);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** Write bytes to a fresh temporary file (for the oracle, which reads paths). */
export function tempFile(bytes: Uint8Array, name: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'edgewise-mmproj-')), name);
  writeFileSync(path, bytes);
  return path;
}

// ---------------------------------------------------------------- a text model for the tiny mmproj

/** Vocabulary size of gemma3TextModelBytes(); its last two ids are <start_of_image> and <end_of_image>. */
export const TINY_GEMMA3_VOCAB = 300;

/** A random-weight gemma3 text model of width 128 (mmproj-tinygemma3's output width) whose last two
 *  tokens are gemma3's image tokens (control tokens), so image prompts can be assembled and decoded. */
export function gemma3TextModelBytes(seed = 17): Uint8Array {
  const V = TINY_GEMMA3_VOCAB;
  const spec = randomModelSpec({ arch: 'gemma3', nEmbd: 128, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 256, vocab: V, ctx: 512, weightType: 'F32', seed, slidingWindow: 8, swaPattern: 2 });
  const meta = spec.metadata as Map<string, unknown>;
  const tokens = meta.get('tokenizer.ggml.tokens') as string[];
  const types = (meta.get('tokenizer.ggml.token_type') as { value: { items: Int32Array } }).value.items;
  tokens[V - 2] = '<start_of_image>';
  tokens[V - 1] = '<end_of_image>';
  types[V - 2] = 3; // CONTROL
  types[V - 1] = 3;
  return writeGguf(spec);
}
