// The vision encoder on the GPU: a CLIP/SigLIP ViT and its projector, over the same kernels as the text
// model. One image is one recorded pass:
//   patches (unfolded on the CPU: conv with stride = kernel = patch is a matmul over unfolded patches)
//   · patch_embd + bias, + position embeddings (bilinearly resized when the grid is not the trained one),
//   [pre LayerNorm], nLayer × (LayerNorm → q/k/v → non-causal multi-head attention → out proj, residual;
//   LayerNorm → up → GELU → down, residual), [post LayerNorm],
//   then the projector (gemma3: avgPool2d by the merge factor, RMSNorm · soft_emb_norm, input_projection;
//   mlp: mm.0 + bias, GELU, mm.2 + bias; idefics3: pixel shuffle (a row gather) then mm.model.fc).
// Follows llama.cpp's clip graph (build_vit + the gemma3 / idefics3 branches of build_siglip, and the
// llava graph) op for op, with two exceptions for CLIP/LLaVA where llama.cpp's graph departs from the
// model (ggml-org/llama.cpp issues 25814 and 25817): the class token takes position 0 and its output row
// is the one dropped (llama.cpp appends it last but still drops row 0 and adds position i to row i), and
// every stored block runs (the legacy converter already dropped the last one; llama.cpp skips another).
// The class token is kept as the LAST row here (attention without a mask does not care about row order),
// so the patch rows the projector reads are the first T rows of x: a view, no gather.

import type { Gpu } from '../gpu/gpu.ts';
import type { Recorder } from '../gpu/recorder.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Gguf, GgufTensorInfo } from '../formats/gguf.ts';
import { dequantize } from '../formats/quantize.ts';
import { matmul } from '../kernels/matmul.ts';
import { add } from '../kernels/add.ts';
import { layernorm, rmsnorm } from '../kernels/norm.ts';
import { attention } from '../kernels/attention.ts';
import { gelu } from '../kernels/activation.ts';
import { avgPool2d } from '../kernels/avg-pool2d.ts';
import { getRows } from '../kernels/get-rows.ts';
import { checkClipTensors, ffnNames, imageTokenCount, readClipHparams, VisionConfigError, type ClipHparams } from './clip.ts';

/** A preprocessed image: planar RGB (data[c * height * width + y * width + x]), already rescaled and
 *  normalized with the encoder's mean and std. */
export interface PixelTensor {
  width: number;
  height: number;
  data: Float32Array;
}

// ---------------------------------------------------------------- CPU-side layout helpers

/**
 * Unfold a planar image into one row per patch (patches row-major over the grid), each row ordered
 * (channel, ky, kx) — the layout of the conv kernel [D, 3, p, p] read as a [D, 3·p·p] matrix, so
 * patches · kernelᵀ is ggml_conv_2d with stride = kernel = p.
 */
export function unfoldPatches(img: PixelTensor, p: number): Float32Array {
  const { width: W, height: H, data } = img;
  const nx = W / p, ny = H / p, K = 3 * p * p;
  const out = new Float32Array(nx * ny * K);
  for (let py = 0; py < ny; py++) {
    for (let px = 0; px < nx; px++) {
      let o = (py * nx + px) * K;
      for (let c = 0; c < 3; c++) {
        for (let ky = 0; ky < p; ky++) {
          const row = c * H * W + (py * p + ky) * W + px * p;
          for (let kx = 0; kx < p; kx++) out[o++] = data[row + kx];
        }
      }
    }
  }
  return out;
}

/**
 * Position embeddings [side², D] of a square grid resized to [h, w] by bilinear interpolation with
 * half-pixel centres and edge clamping (PyTorch's interpolate(mode='bilinear', align_corners=False),
 * ggml_interpolate's bilinear mode). The identity when the grid already matches.
 */
export function resizePositionEmbeddings(pos: Float32Array, side: number, D: number, h: number, w: number): Float32Array {
  if (h === side && w === side) return pos;
  const out = new Float32Array(h * w * D);
  const coord = (i: number, n: number) => {
    const s = Math.max(0, ((i + 0.5) * side) / n - 0.5);
    const i0 = Math.min(Math.floor(s), side - 1);
    const i1 = Math.min(i0 + 1, side - 1);
    return { i0, i1, t: s - i0 };
  };
  for (let y = 0; y < h; y++) {
    const cy = coord(y, h);
    for (let x = 0; x < w; x++) {
      const cx = coord(x, w);
      const a = (cy.i0 * side + cx.i0) * D, b = (cy.i0 * side + cx.i1) * D;
      const c = (cy.i1 * side + cx.i0) * D, d = (cy.i1 * side + cx.i1) * D;
      const o = (y * w + x) * D;
      for (let k = 0; k < D; k++) {
        const top = pos[a + k] + (pos[b + k] - pos[a + k]) * cx.t;
        const bot = pos[c + k] + (pos[d + k] - pos[c + k]) * cx.t;
        out[o + k] = top + (bot - top) * cy.t;
      }
    }
  }
  return out;
}

/**
 * The pixel shuffle of idefics3 (HF Idefics3Connector.pixel_shuffle, llama.cpp build_patch_merge_permute)
 * as a row gather: a grid of gy x gx rows of width D becomes (gy/s) x (gx/s) rows of width s·s·D, row
 * (by, bx) holding the s x s neighbours (by·s + dy, bx·s + dx) in (dy, dx) order. Viewed as rows of
 * width D, output row ((by·(gx/s) + bx)·s + dy)·s + dx is input row (by·s + dy)·gx + bx·s + dx.
 */
export function pixelShuffleRows(gy: number, gx: number, s: number): Uint32Array {
  const ids = new Uint32Array(gy * gx);
  let o = 0;
  for (let by = 0; by < gy / s; by++) {
    for (let bx = 0; bx < gx / s; bx++) {
      for (let dy = 0; dy < s; dy++) {
        for (let dx = 0; dx < s; dx++) ids[o++] = (by * s + dy) * gx + bx * s + dx;
      }
    }
  }
  return ids;
}

/** [rows, cols] values of a weight (any stored type) -> the F32 [cols, rows] transpose. F16 stays F16. */
function transposeWeight(info: GgufTensorInfo, bytes: Uint8Array): { bytes: Uint8Array; type: 'F32' | 'F16' } {
  const [rows, cols] = info.shape;
  if (info.type === 'F16') {
    const src = new Uint16Array(bytes.slice().buffer), dst = new Uint16Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
    return { bytes: new Uint8Array(dst.buffer), type: 'F16' };
  }
  const src = dequantize(info.type, bytes, info.numel), dst = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
  return { bytes: new Uint8Array(dst.buffer), type: 'F32' };
}

// ---------------------------------------------------------------- the encoder

export interface VisionLoadProgress {
  stage: 'vision-weights';
  loadedBytes: number;
  totalBytes: number;
  tensor: string;
}

export class VisionEncoder {
  private readonly posCache = new Map<string, Tensor>();
  private readonly shuffleCache = new Map<string, Tensor>();

  private constructor(
    readonly gpu: Gpu,
    readonly hp: ClipHparams,
    private readonly weights: Map<string, Tensor>,
    /** The stored position embeddings, kept for resizing to other grids. */
    private readonly positions: Float32Array,
    /** CLIP's class embedding and patch bias, folded into the position rows (class token models only). */
    private readonly classEmbedding: Float32Array | null,
    private readonly patchBias: Float32Array | null,
  ) {}

  /** Read, check and upload an mmproj GGUF. Throws VisionConfigError / UnsupportedProjectorError before
   *  touching the GPU when the file is not something this encoder runs. */
  static async load(gpu: Gpu, gguf: Gguf, onProgress?: (p: VisionLoadProgress) => void): Promise<VisionEncoder> {
    const hp = readClipHparams(gguf);
    checkClipTensors(gguf, hp);
    const total = gguf.tensors.reduce((s, t) => s + t.byteLength, 0);
    const weights = new Map<string, Tensor>();
    let loaded = 0;
    let positions: Float32Array = new Float32Array(0);
    let classEmbedding: Float32Array | null = null, patchBias: Float32Array | null = null;
    try {
      for (const info of gguf.tensors) {
        const bytes = await gguf.readTensorBytes(info);
        const name = info.name;
        if (name === 'v.patch_embd.weight') {
          // The conv kernel [D, 3, p, p] is the matrix [D, 3·p·p] over unfolded patches.
          weights.set(name, gpu.uploadWeight(bytes, [hp.nEmbd, 3 * hp.patchSize * hp.patchSize], info.type, name));
        } else if (name === 'v.position_embd.weight') {
          positions = dequantize(info.type, bytes, info.numel);
        } else if (name === 'v.class_embd') {
          classEmbedding = dequantize(info.type, bytes, info.numel);
        } else if (name === 'v.patch_embd.bias' && hp.hasClassEmbedding) {
          patchBias = dequantize(info.type, bytes, info.numel);
        } else if (name === 'mm.input_projection.weight') {
          // Stored [vision, text]; llama.cpp multiplies by its transpose, matmul wants W [N = text, K = vision].
          const t = transposeWeight(info, bytes);
          weights.set(name, gpu.uploadWeight(t.bytes, [info.shape[1], info.shape[0]], t.type, name));
        } else {
          weights.set(name, gpu.uploadWeight(bytes, info.shape, info.type, name));
        }
        loaded += info.byteLength;
        onProgress?.({ stage: 'vision-weights', loadedBytes: loaded, totalBytes: total, tensor: name });
      }
    } catch (e) {
      for (const t of weights.values()) t.buffer.destroy();
      throw e;
    }
    return new VisionEncoder(gpu, hp, weights, positions, classEmbedding, patchBias);
  }

  private w(name: string): Tensor {
    const t = this.weights.get(name);
    if (!t) throw new VisionConfigError(`tensor '${name}' is not loaded`, { tensor: name });
    return t;
  }

  private opt(name: string): Tensor | null {
    return this.weights.get(name) ?? null;
  }

  /**
   * What is added to the patch embeddings for a grid of h x w patches: the position embeddings, resized
   * once per grid and kept. With a class token: [h·w + 1, D], patch rows first (position i + 1, plus the
   * patch bias), then the class row (class embedding + position 0), whose patch row is all zeros.
   */
  private positionsFor(h: number, w: number): Tensor {
    const key = `${h}x${w}`;
    let t = this.posCache.get(key);
    if (!t) {
      const { posGridSide: side, nEmbd: D } = this.hp;
      let data: Float32Array;
      if (this.classEmbedding) {
        const T = h * w;
        data = new Float32Array((T + 1) * D);
        for (let i = 0; i < T; i++) {
          for (let k = 0; k < D; k++) data[i * D + k] = Math.fround(this.positions[(i + 1) * D + k] + (this.patchBias ? this.patchBias[k] : 0));
        }
        for (let k = 0; k < D; k++) data[T * D + k] = Math.fround(this.classEmbedding[k] + this.positions[k]);
      } else {
        data = resizePositionEmbeddings(this.positions, side, D, h, w);
      }
      t = this.gpu.uploadWeight(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), [data.length / D, D], 'F32', `v.position_embd ${key}`);
      this.posCache.set(key, t);
    }
    return t;
  }

  /** Gather indices of the pixel shuffle for a gy x gx grid, uploaded once per grid. */
  private shuffleFor(gy: number, gx: number): Tensor {
    const key = `${gy}x${gx}`;
    let t = this.shuffleCache.get(key);
    if (!t) {
      const ids = pixelShuffleRows(gy, gx, this.hp.mergeFactor);
      t = this.gpu.uploadWeight(new Uint8Array(ids.buffer), [ids.length], 'U32', `pixel shuffle ${key}`);
      this.shuffleCache.set(key, t);
    }
    return t;
  }

  /** Soft tokens an image of this size becomes (the projector's output rows). */
  tokenCount(img: Pick<PixelTensor, 'width' | 'height'>): number {
    this.checkSize(img);
    return img.width === img.height ? imageTokenCount(this.hp, img.width) : (img.width / this.hp.patchSize / this.hp.mergeFactor) * (img.height / this.hp.patchSize / this.hp.mergeFactor);
  }

  private checkSize(img: Pick<PixelTensor, 'width' | 'height'>): void {
    const { patchSize: p, mergeFactor: m } = this.hp;
    const { width, height } = img;
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0 && width % (p * m) === 0 && height % (p * m) === 0)) {
      throw new ShapeError('vision encode', `image of ${width} x ${height} pixels: both sides must be positive multiples of ${p * m} (patch ${p} x merge ${m})`, { width, height, patchSize: p, mergeFactor: m });
    }
    // Position embeddings are resized for gemma3 only (as llama.cpp); CLIP and idefics3 tiles are the trained size.
    if (this.hp.projector !== 'gemma3' && (width !== this.hp.imageSize || height !== this.hp.imageSize)) {
      throw new ShapeError('vision encode', `image of ${width} x ${height} pixels: the ${this.hp.projector} encoder takes ${this.hp.imageSize} x ${this.hp.imageSize} inputs`, { width, height, imageSize: this.hp.imageSize });
    }
  }

  /**
   * Record the encoder and projector for one image into `rec`; `out` [tokenCount, outputWidth] F32
   * receives the embeddings the text model takes in place of token embeddings. Scratch tensors go back to
   * the pool once the recorder is submitted.
   */
  record(rec: Recorder, img: PixelTensor, out: Tensor): void {
    const { gpu, hp } = this;
    this.checkSize(img);
    if (img.data.length !== 3 * img.width * img.height) {
      throw new ShapeError('vision encode', `pixel data holds ${img.data.length} values, ${img.width} x ${img.height} RGB needs ${3 * img.width * img.height}`, { length: img.data.length });
    }
    const p = hp.patchSize, D = hp.nEmbd, F = hp.nFf, H = hp.nHead, hd = hp.headDim;
    const gx = img.width / p, gy = img.height / p, T = gx * gy;
    // Rows through the ViT: the patches, then the class token when there is one.
    const N = T + (hp.hasClassEmbedding ? 1 : 0);
    const m = hp.mergeFactor, nOut = (gx / m) * (gy / m);
    if (out.dtype !== 'F32' || out.shape.length !== 2 || out.shape[0] !== nOut || out.shape[1] !== hp.outputWidth) {
      throw new ShapeError('vision encode', `out is ${out.dtype}[${out.shape.join(', ')}], expected F32[${nOut}, ${hp.outputWidth}]`, { out: out.shape, expected: [nOut, hp.outputWidth] });
    }

    const scratch: Tensor[] = [];
    const t = (shape: number[], label: string) => { const x = gpu.tensor(shape, 'F32', label); scratch.push(x); return x; };
    const patches = t([N, 3 * p * p], 'vision patches');
    const unfolded = unfoldPatches(img, p);
    // The class token's "patch" is a zero row: its embedding and position come from positionsFor.
    const patchRows = N === T ? unfolded : (() => { const a = new Float32Array(N * 3 * p * p); a.set(unfolded); return a; })();
    gpu.write(patches, new Uint8Array(patchRows.buffer));
    const x = t([N, D], 'vision x'), h = t([N, D], 'vision h');
    const q = t([N, H, hd], 'vision q'), k = t([N, H, hd], 'vision k'), v = t([N, H, hd], 'vision v'), att = t([N, H, hd], 'vision att');
    const ff = t([N, F], 'vision ffn');

    // With a class token the patch bias is folded into positionsFor (the class row takes none).
    const patchBias = hp.hasClassEmbedding ? undefined : this.opt('v.patch_embd.bias') ?? undefined;
    matmul(gpu, rec, patches, this.w('v.patch_embd.weight'), h, { bias: patchBias });
    add(gpu, rec, h, this.positionsFor(gy, gx), x);
    if (hp.hasPreNorm) layernorm(gpu, rec, x, this.w('v.pre_ln.weight'), this.w('v.pre_ln.bias'), x, { eps: hp.eps });

    for (let l = 0; l < hp.nLayer; l++) {
      const b = `v.blk.${l}.`;
      const W = (n: string) => this.w(b + n);
      layernorm(gpu, rec, x, W('ln1.weight'), W('ln1.bias'), h, { eps: hp.eps });
      matmul(gpu, rec, h, W('attn_q.weight'), q.view([N, D]), { bias: W('attn_q.bias') });
      matmul(gpu, rec, h, W('attn_k.weight'), k.view([N, D]), { bias: W('attn_k.bias') });
      matmul(gpu, rec, h, W('attn_v.weight'), v.view([N, D]), { bias: W('attn_v.bias') });
      // Every patch sees every patch: K and V of this image are the whole "cache".
      attention(gpu, rec, q, k, v, att, { kvLen: N, pos0: 0, causal: false, scale: 1 / Math.sqrt(hd) });
      matmul(gpu, rec, att.view([N, D]), W('attn_out.weight'), x, { bias: W('attn_out.bias'), accumulate: true });
      layernorm(gpu, rec, x, W('ln2.weight'), W('ln2.bias'), h, { eps: hp.eps });
      const ffn = ffnNames(hp, l);
      matmul(gpu, rec, h, this.w(`${ffn.up}.weight`), ff, { bias: this.w(`${ffn.up}.bias`) });
      gelu(gpu, rec, ff, ff, { approx: hp.ffnAct === 'quick-gelu' ? 'quick' : 'tanh' });
      matmul(gpu, rec, ff, this.w(`${ffn.down}.weight`), x, { bias: this.w(`${ffn.down}.bias`), accumulate: true });
    }
    if (hp.hasPostNorm) layernorm(gpu, rec, x, this.w('v.post_ln.weight'), this.w('v.post_ln.bias'), x, { eps: hp.eps });
    // The patch rows (the class token, when there is one, is the last row and is left out here).
    const xp = x.view([T, D]);

    if (hp.projector === 'gemma3') {
      // A merge factor of 1 pools nothing (ggml's pool is then exactly the identity).
      let pooled = xp;
      if (m > 1) {
        pooled = t([gy / m, gx / m, D], 'vision pooled');
        avgPool2d(gpu, rec, xp.view([gy, gx, D]), pooled, m);
      }
      const normed = h.view([nOut, D]);
      rmsnorm(gpu, rec, pooled.view([nOut, D]), this.w('mm.soft_emb_norm.weight'), normed, { eps: hp.eps });
      matmul(gpu, rec, normed, this.w('mm.input_projection.weight'), out);
    } else if (hp.projector === 'mlp') {
      const hid = t([T, hp.projHidden], 'llava projector hidden');
      matmul(gpu, rec, xp, this.w('mm.0.weight'), hid, { bias: this.w('mm.0.bias') });
      gelu(gpu, rec, hid, hid, { approx: 'tanh' });
      matmul(gpu, rec, hid, this.w('mm.2.weight'), out, { bias: this.w('mm.2.bias') });
    } else {
      // idefics3: pixel shuffle (an exact row gather), then the projection over rows of m·m·D.
      const shuffled = t([T, D], 'idefics3 shuffled');
      getRows(gpu, rec, xp, this.shuffleFor(gy, gx), shuffled);
      matmul(gpu, rec, shuffled.view([nOut, m * m * D]), this.w('mm.model.fc.weight'), out);
    }
    rec.onSubmitted(() => { for (const s of scratch) s.release(); });
  }

  /** Encode one image and read the embeddings back: [tokenCount · outputWidth] row-major. */
  async encode(img: PixelTensor): Promise<Float32Array> {
    const out = this.gpu.tensor([this.tokenCount(img), this.hp.outputWidth], 'F32', 'vision embeddings');
    try {
      this.gpu.run((rec) => this.record(rec, img, out), 'vision encode');
      return await this.gpu.readF32(out);
    } finally {
      out.release();
    }
  }

  get bytes(): number {
    let n = 0;
    for (const t of this.weights.values()) n += t.byteLength;
    for (const t of this.posCache.values()) n += t.byteLength;
    for (const t of this.shuffleCache.values()) n += t.byteLength;
    return n;
  }

  dispose(): void {
    for (const t of [...this.weights.values(), ...this.posCache.values(), ...this.shuffleCache.values()]) t.buffer.destroy();
    this.weights.clear();
    this.posCache.clear();
    this.shuffleCache.clear();
  }
}
