// The vision encoder on the GPU: a CLIP/SigLIP ViT and its projector, over the same kernels as the text
// model. One image is one recorded pass:
//   patches (unfolded on the CPU: conv with stride = kernel = patch is a matmul over unfolded patches)
//   · patch_embd + bias, + position embeddings (bilinearly resized when the grid is not the trained one),
//   [pre LayerNorm], nLayer × (LayerNorm → q/k/v → non-causal multi-head attention → out proj, residual;
//   LayerNorm → up → GELU → down, residual), [post LayerNorm],
//   then the projector (gemma3: avgPool2d by the merge factor, RMSNorm · soft_emb_norm, input_projection).
// Follows llama.cpp's clip graph (build_vit + the gemma3 branch of build_siglip) op for op.

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
import { checkClipTensors, imageTokenCount, readClipHparams, VisionConfigError, type ClipHparams } from './clip.ts';

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

  private constructor(
    readonly gpu: Gpu,
    readonly hp: ClipHparams,
    private readonly weights: Map<string, Tensor>,
    /** The stored position embeddings, kept for resizing to other grids. */
    private readonly positions: Float32Array,
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
    try {
      for (const info of gguf.tensors) {
        const bytes = await gguf.readTensorBytes(info);
        const name = info.name;
        if (name === 'v.patch_embd.weight') {
          // The conv kernel [D, 3, p, p] is the matrix [D, 3·p·p] over unfolded patches.
          weights.set(name, gpu.uploadWeight(bytes, [hp.nEmbd, 3 * hp.patchSize * hp.patchSize], info.type, name));
        } else if (name === 'v.position_embd.weight') {
          positions = dequantize(info.type, bytes, info.numel);
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
    return new VisionEncoder(gpu, hp, weights, positions);
  }

  private w(name: string): Tensor {
    const t = this.weights.get(name);
    if (!t) throw new VisionConfigError(`tensor '${name}' is not loaded`, { tensor: name });
    return t;
  }

  private opt(name: string): Tensor | null {
    return this.weights.get(name) ?? null;
  }

  /** Position embeddings for a grid of h x w patches, resized once per grid and kept. */
  private positionsFor(h: number, w: number): Tensor {
    const key = `${h}x${w}`;
    let t = this.posCache.get(key);
    if (!t) {
      const side = this.hp.posGridSide;
      const data = resizePositionEmbeddings(this.positions, side, this.hp.nEmbd, h, w);
      t = this.gpu.uploadWeight(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), [h * w, this.hp.nEmbd], 'F32', `v.position_embd ${key}`);
      this.posCache.set(key, t);
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
    const m = hp.mergeFactor, nOut = (gx / m) * (gy / m);
    if (out.dtype !== 'F32' || out.shape.length !== 2 || out.shape[0] !== nOut || out.shape[1] !== hp.outputWidth) {
      throw new ShapeError('vision encode', `out is ${out.dtype}[${out.shape.join(', ')}], expected F32[${nOut}, ${hp.outputWidth}]`, { out: out.shape, expected: [nOut, hp.outputWidth] });
    }

    const scratch: Tensor[] = [];
    const t = (shape: number[], label: string) => { const x = gpu.tensor(shape, 'F32', label); scratch.push(x); return x; };
    const patches = t([T, 3 * p * p], 'vision patches');
    gpu.write(patches, new Uint8Array(unfoldPatches(img, p).buffer));
    const x = t([T, D], 'vision x'), h = t([T, D], 'vision h');
    const q = t([T, H, hd], 'vision q'), k = t([T, H, hd], 'vision k'), v = t([T, H, hd], 'vision v'), att = t([T, H, hd], 'vision att');
    const ff = t([T, F], 'vision ffn');

    matmul(gpu, rec, patches, this.w('v.patch_embd.weight'), h, { bias: this.opt('v.patch_embd.bias') ?? undefined });
    add(gpu, rec, h, this.positionsFor(gy, gx), x);
    if (hp.hasPreNorm) layernorm(gpu, rec, x, this.w('v.pre_ln.weight'), this.w('v.pre_ln.bias'), x, { eps: hp.eps });

    for (let l = 0; l < hp.nLayer; l++) {
      const b = `v.blk.${l}.`;
      const W = (n: string) => this.w(b + n);
      layernorm(gpu, rec, x, W('ln1.weight'), W('ln1.bias'), h, { eps: hp.eps });
      matmul(gpu, rec, h, W('attn_q.weight'), q.view([T, D]), { bias: W('attn_q.bias') });
      matmul(gpu, rec, h, W('attn_k.weight'), k.view([T, D]), { bias: W('attn_k.bias') });
      matmul(gpu, rec, h, W('attn_v.weight'), v.view([T, D]), { bias: W('attn_v.bias') });
      // Every patch sees every patch: K and V of this image are the whole "cache".
      attention(gpu, rec, q, k, v, att, { kvLen: T, pos0: 0, causal: false, scale: 1 / Math.sqrt(hd) });
      matmul(gpu, rec, att.view([T, D]), W('attn_out.weight'), x, { bias: W('attn_out.bias'), accumulate: true });
      layernorm(gpu, rec, x, W('ln2.weight'), W('ln2.bias'), h, { eps: hp.eps });
      matmul(gpu, rec, h, W('ffn_up.weight'), ff, { bias: W('ffn_up.bias') });
      gelu(gpu, rec, ff, ff, { approx: 'tanh' });
      matmul(gpu, rec, ff, W('ffn_down.weight'), x, { bias: W('ffn_down.bias'), accumulate: true });
    }
    if (hp.hasPostNorm) layernorm(gpu, rec, x, this.w('v.post_ln.weight'), this.w('v.post_ln.bias'), x, { eps: hp.eps });

    // gemma3 projector. A merge factor of 1 pools nothing (ggml's pool is then exactly the identity).
    let pooled = x;
    if (m > 1) {
      pooled = t([gy / m, gx / m, D], 'vision pooled');
      avgPool2d(gpu, rec, x.view([gy, gx, D]), pooled, m);
    }
    const normed = h.view([nOut, D]);
    rmsnorm(gpu, rec, pooled.view([nOut, D]), this.w('mm.soft_emb_norm.weight'), normed, { eps: hp.eps });
    matmul(gpu, rec, normed, this.w('mm.input_projection.weight'), out);
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
    return n;
  }

  dispose(): void {
    for (const t of [...this.weights.values(), ...this.posCache.values()]) t.buffer.destroy();
    this.weights.clear();
    this.posCache.clear();
  }
}
