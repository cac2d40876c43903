// Test fixtures for the vision path: the shared tinygemma3 mmproj, variants of it rewritten with other
// metadata or tensor types (pooling on, a quantized projection, bad files), and the torch oracle.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytesSource, openGguf, type Gguf, type GgufValue } from '../formats/gguf.ts';
import { openGgufPath } from '../formats/gguf-node.ts';
import { gv, writeGguf, type GgufWriterTensor } from '../formats/gguf-writer.ts';
import { dequantize, quantize } from '../formats/quantize.ts';
import type { GgmlTypeName } from '../formats/ggml-types.ts';
import type { PixelTensor } from '../vision/encoder.ts';
import { randomModelSpec } from './random-model.ts';
import { Rng } from './rng.ts';

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
export function gemma3TextModelBytes(seed = 17, ctx = 512): Uint8Array {
  const V = TINY_GEMMA3_VOCAB;
  const spec = randomModelSpec({ arch: 'gemma3', nEmbd: 128, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 256, vocab: V, ctx, weightType: 'F32', seed, slidingWindow: 8, swaPattern: 2 });
  const meta = spec.metadata as Map<string, unknown>;
  const tokens = meta.get('tokenizer.ggml.tokens') as string[];
  const types = (meta.get('tokenizer.ggml.token_type') as { value: { items: Int32Array } }).value.items;
  tokens[V - 2] = '<start_of_image>';
  tokens[V - 1] = '<end_of_image>';
  types[V - 2] = 3; // CONTROL
  types[V - 1] = 3;
  return writeGguf(spec);
}

// ---------------------------------------------------------------- tiny random-weight mmprojs (LLaVA, idefics3)

export interface TinyMmprojOptions {
  projector: 'mlp' | 'idefics3';
  /** Encoder input side in pixels (default 8) and patch size (default 2). */
  imageSize?: number;
  patchSize?: number;
  /** ViT width (default 32; a multiple of 8 for the pixel-shuffle gather), FFN width, blocks, heads. */
  nEmbd?: number;
  nFf?: number;
  nLayer?: number;
  nHead?: number;
  /** Width the projector writes (the text model's). */
  outWidth?: number;
  /** mlp: width between mm.0 and mm.2 (default 48). idefics3: scale_factor (default 2). */
  projHidden?: number;
  scaleFactor?: number;
  /** idefics3: clip.vision.preproc_image_size (longest edge before splitting); omitted when undefined. */
  longestEdge?: number;
  /** clip.use_gelu (default: false for mlp, as CLIP's quick_gelu; true for idefics3, SigLIP's tanh GELU). */
  useGelu?: boolean;
  /** Store fc1 as ffn_down and fc2 as ffn_up, as older converters did. */
  swapFfn?: boolean;
  /** Store the 2-D matrices as F16 (default F32). */
  matrixType?: 'F32' | 'F16';
  seed?: number;
}

/**
 * An mmproj GGUF with random weights in the layout llama.cpp's converters write: `clip.*` keys, `v.*` ViT
 * tensors (LLaVA: CLIP with v.class_embd, pre_ln, no post_ln, no patch bias; idefics3: SigLIP with a patch
 * bias and post_ln, no class token) and the projector's `mm.*` tensors.
 */
export function tinyMmprojBytes(o: TinyMmprojOptions): Uint8Array {
  const llava = o.projector === 'mlp';
  const S = o.imageSize ?? 8, p = o.patchSize ?? 2, D = o.nEmbd ?? 32, Ff = o.nFf ?? 64;
  const L = o.nLayer ?? 2, H = o.nHead ?? 4, out = o.outWidth ?? 24;
  const s = o.scaleFactor ?? 2, hidden = o.projHidden ?? 48;
  const rng = new Rng(o.seed ?? 5);
  const mt = o.matrixType ?? 'F32';
  const tensors: GgufWriterTensor[] = [];
  const add = (name: string, shape: number[], type: 'F32' | 'F16', scale: number, offset = 0) => {
    const n = shape.reduce((a, d) => a * d, 1);
    const values = rng.f32(n, scale);
    if (offset) for (let i = 0; i < n; i++) values[i] += offset;
    tensors.push({ name, shape, type, values });
  };
  const matrix = (name: string, rows: number, cols: number) => add(name, [rows, cols], mt, 1 / Math.sqrt(cols));
  const norm = (name: string) => { add(`${name}.weight`, [D], 'F32', 0.1, 1); add(`${name}.bias`, [D], 'F32', 0.1); };
  const grid = (S / p) ** 2;
  add('v.patch_embd.weight', [D, 3, p, p], 'F16', 1 / Math.sqrt(3 * p * p));
  add('v.position_embd.weight', [grid + (llava ? 1 : 0), D], 'F32', 0.5);
  if (llava) {
    add('v.class_embd', [D], 'F32', 0.5);
    norm('v.pre_ln');
  } else {
    add('v.patch_embd.bias', [D], 'F32', 0.1);
    norm('v.post_ln');
  }
  for (let l = 0; l < L; l++) {
    const b = `v.blk.${l}.`;
    norm(`${b}ln1`);
    norm(`${b}ln2`);
    for (const n of ['attn_q', 'attn_k', 'attn_v', 'attn_out']) { matrix(`${b}${n}.weight`, D, D); add(`${b}${n}.bias`, [D], 'F32', 0.1); }
    const [up, down] = o.swapFfn ? ['ffn_down', 'ffn_up'] : ['ffn_up', 'ffn_down'];
    matrix(`${b}${up}.weight`, Ff, D); add(`${b}${up}.bias`, [Ff], 'F32', 0.1);
    matrix(`${b}${down}.weight`, D, Ff); add(`${b}${down}.bias`, [D], 'F32', 0.1);
  }
  if (llava) {
    matrix('mm.0.weight', hidden, D); add('mm.0.bias', [hidden], 'F32', 0.1);
    matrix('mm.2.weight', out, hidden); add('mm.2.bias', [out], 'F32', 0.1);
  } else {
    matrix('mm.model.fc.weight', out, D * s * s);
  }
  const metadata = new Map<string, GgufValue>([
    ['general.architecture', gv.string('clip')],
    ['clip.projector_type', gv.string(o.projector)],
    ['clip.has_vision_encoder', gv.bool(true)],
    ['clip.has_text_encoder', gv.bool(false)],
    ['clip.use_gelu', gv.bool(o.useGelu ?? !llava)],
    ['clip.vision.image_size', gv.u32(S)],
    ['clip.vision.patch_size', gv.u32(p)],
    ['clip.vision.embedding_length', gv.u32(D)],
    ['clip.vision.feed_forward_length', gv.u32(Ff)],
    ['clip.vision.projection_dim', gv.u32(out)],
    ['clip.vision.block_count', gv.u32(L)],
    ['clip.vision.attention.head_count', gv.u32(H)],
    ['clip.vision.attention.layer_norm_epsilon', gv.f32(llava ? 1e-5 : 1e-6)],
    // CLIP's (OpenAI) and SigLIP's normalization constants, as the converters copy them.
    ['clip.vision.image_mean', gv.array('f32', llava ? [0.48145466, 0.4578275, 0.40821073] : [0.5, 0.5, 0.5])],
    ['clip.vision.image_std', gv.array('f32', llava ? [0.26862954, 0.26130258, 0.27577711] : [0.5, 0.5, 0.5])],
  ]);
  if (!llava) metadata.set('clip.vision.projector.scale_factor', gv.u32(s));
  if (!llava && o.longestEdge !== undefined) metadata.set('clip.vision.preproc_image_size', gv.u32(o.longestEdge));
  return writeGguf({ metadata, tensors });
}
