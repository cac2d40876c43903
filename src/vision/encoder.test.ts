import { beforeAll, describe, expect, it } from 'vitest';
import { gv } from '../formats/gguf-writer.ts';
import { openGgufPath } from '../formats/gguf-node.ts';
import { Rng } from '../testing/rng.ts';
import { compareArrays } from '../testing/compare.ts';
import { testGpu } from '../testing/gpu.ts';
import { editMmproj, openMmprojBytes, readMmproj, tempFile, TINY_MMPROJ, torchEmbeddings, torchUnavailable, type MmprojContents } from '../testing/mmproj.ts';
import { checkClipTensors, checkProjectorWidth, imageTokenCount, ProjectorWidthError, readClipHparams, UnsupportedProjectorError, VisionConfigError } from './clip.ts';
import { resizePositionEmbeddings, unfoldPatches, VisionEncoder, type PixelTensor } from './encoder.ts';

// The GPU path against torch (src/testing/clip_torch_oracle.py: float64, its own GGUF reader, conv2d,
// layer_norm, explicit softmax attention, tanh GELU, interpolate, avg_pool2d). Both use the same
// dequantized weights, so what differs is f32 vs f64 arithmetic through 4 layers: measured max abs error
// 1.2e-6 .. 1.7e-6 on outputs up to |4.7| (32x32, 16x16, 48x48 images). Allowed: 1e-5 absolute + 1e-5
// relative, a few times the measured error and far below a wrong op (a missing bias, an untransposed
// projection, causal attention or erf GELU each move outputs by 1e-2 or more).
const TORCH_TOL = { atol: 1e-5, rtol: 1e-5 };

function randomPixels(side: number, seed: number): PixelTensor {
  const rng = new Rng(seed);
  return { width: side, height: side, data: rng.f32(3 * side * side, 1, 'uniform') }; // normalized pixels lie in [-1, 1]
}

let mmproj: MmprojContents;
beforeAll(async () => {
  mmproj = await readMmproj();
});

describe('clip hyperparameters', () => {
  it('reads mmproj-tinygemma3: 32x32 image, patch 2, width 128, 4 blocks, 4 heads, gemma3 projector without pooling', async () => {
    const g = await openGgufPath(TINY_MMPROJ);
    const hp = readClipHparams(g);
    expect(hp).toMatchObject({
      projector: 'gemma3', imageSize: 32, patchSize: 2, nEmbd: 128, nFf: 512, nLayer: 4, nHead: 4, headDim: 32,
      imageMean: [0.5, 0.5, 0.5], imageStd: [0.5, 0.5, 0.5], mergeFactor: 1, outputWidth: 128, posGridSide: 16,
      hasPreNorm: false, hasPostNorm: true, hasPatchBias: true, ffnAct: 'gelu',
    });
    expect(hp.eps).toBeCloseTo(1e-6, 12);
    expect(imageTokenCount(hp)).toBe(256);
    checkClipTensors(g, hp);
    expect(() => checkProjectorWidth(hp, 128)).not.toThrow();
    const e = (() => { try { checkProjectorWidth(hp, 2560); } catch (x) { return x; } })() as ProjectorWidthError;
    expect(e).toBeInstanceOf(ProjectorWidthError);
    expect(e.details).toMatchObject({ projectorWidth: 128, textWidth: 2560 });
    await g.close();
  });

  it('gemma3 pools by 4 per side when scale_factor is absent, as llama.cpp defaults', async () => {
    const g = await openMmprojBytes(editMmproj(mmproj, { metadata: { 'clip.vision.image_size': gv.u32(64), 'clip.vision.projector.scale_factor': null } }));
    const hp = readClipHparams(g);
    expect(hp.mergeFactor).toBe(4);
    expect(imageTokenCount(hp)).toBe(64); // 32 patches per side -> 8 per side
  });

  it('refuses unknown projectors, silu encoders, missing, misshapen and leftover tensors with typed errors', async () => {
    const open = (e: Parameters<typeof editMmproj>[1]) => openMmprojBytes(editMmproj(mmproj, e));
    const hpOf = async (e: Parameters<typeof editMmproj>[1]) => { const g = await open(e); const hp = readClipHparams(g); checkClipTensors(g, hp); return hp; };
    await expect(hpOf({ metadata: { 'clip.projector_type': gv.string('resampler') } })).rejects.toThrow(UnsupportedProjectorError);
    // No projector type means LLaVA's 'mlp' (as llama.cpp): this file has no class position nor mm.0/mm.2.
    await expect(hpOf({ metadata: { 'clip.projector_type': null } })).rejects.toThrow(/square grid of positions after the class position/);
    await expect(hpOf({ metadata: { 'clip.use_gelu': null, 'clip.use_silu': gv.bool(true) } })).rejects.toThrow(/activation is silu/);
    expect((await hpOf({ metadata: { 'clip.use_gelu': null } })).ffnAct).toBe('quick-gelu');
    await expect(hpOf({ metadata: { 'clip.has_vision_encoder': gv.bool(false) } })).rejects.toThrow(/no vision encoder/);
    await expect(hpOf({ metadata: { 'general.architecture': gv.string('llama') } })).rejects.toThrow(VisionConfigError);
    await expect(hpOf({ metadata: { 'clip.vision.projector.scale_factor': gv.u32(3) } })).rejects.toThrow(/do not pool by the projector's scale factor 3/);
    await expect(hpOf({ drop: ['v.blk.2.attn_k.bias'] })).rejects.toThrow(/'v.blk.2.attn_k.bias' is missing/);
    await expect(hpOf({ add: [{ name: 'v.blk.0.ffn_gate.weight', shape: [512, 128], type: 'F32', values: new Float32Array(512 * 128) }] })).rejects.toThrow(/does not use: v.blk.0.ffn_gate.weight/);
    await expect(hpOf({ metadata: { 'clip.vision.feed_forward_length': gv.u32(256) } })).rejects.toThrow(/'v.blk.0.ffn_up.weight' has shape \[512, 128\], the metadata implies \[256, 128\]/);
    await expect(hpOf({ retype: { 'v.post_ln.bias': 'F16' } })).rejects.toThrow(/must be F32/);
  });
});

describe('patch and position layout', () => {
  it('unfolded patches times the kernel is a stride-p convolution', () => {
    const rng = new Rng(3);
    const p = 3, W = 9, H = 6, D = 5;
    const img: PixelTensor = { width: W, height: H, data: rng.f32(3 * W * H) };
    const kernel = rng.f32(D * 3 * p * p); // [D, 3, p, p]
    const rows = unfoldPatches(img, p);
    const K = 3 * p * p, nx = W / p, ny = H / p;
    for (let py = 0; py < ny; py++) {
      for (let px = 0; px < nx; px++) {
        for (let d = 0; d < D; d++) {
          let conv = 0, mm = 0;
          for (let c = 0; c < 3; c++) {
            for (let ky = 0; ky < p; ky++) {
              for (let kx = 0; kx < p; kx++) conv += kernel[((d * 3 + c) * p + ky) * p + kx] * img.data[(c * H + py * p + ky) * W + px * p + kx];
            }
          }
          for (let k = 0; k < K; k++) mm += rows[(py * nx + px) * K + k] * kernel[d * K + k];
          expect(mm).toBeCloseTo(conv, 10);
        }
      }
    }
  });

  it('position embeddings: identity on the trained grid, exact on a constant grid, edge rows clamp', () => {
    const side = 4, D = 2;
    const pos = Float32Array.from({ length: side * side * D }, (_, i) => i);
    expect(resizePositionEmbeddings(pos, side, D, 4, 4)).toBe(pos);
    const flat = new Float32Array(side * side * D).fill(0.25);
    expect(Array.from(resizePositionEmbeddings(flat, side, D, 7, 3)).every((v) => v === 0.25)).toBe(true);
    // Upscaling 4 -> 8: output 0 samples source -0.25, clamped to source 0.
    const up = resizePositionEmbeddings(pos, side, D, 8, 8);
    expect(up[0]).toBe(pos[0]);
    expect(up[(8 * 8 - 1) * D]).toBe(pos[(side * side - 1) * D]);
  });
});

describe('vision encoder on the GPU against torch', () => {
  const skip = torchUnavailable();
  it('torch is available for the independent check', () => {
    // Not a skip: CI installs python3-torch in scripts/setup.sh, so its absence is a setup failure.
    expect(skip).toBeNull();
  });

  it.skipIf(skip !== null)('mmproj-tinygemma3: 32x32 (trained size) and 16x16 (resized position embeddings) images', async () => {
    const gpu = await testGpu();
    const g = await openGgufPath(TINY_MMPROJ);
    const enc = await VisionEncoder.load(gpu, g);
    await g.close();
    try {
      for (const [side, seed] of [[32, 1], [16, 2]] as const) {
        const img = randomPixels(side, seed);
        const ours = await enc.encode(img);
        expect(ours.length).toBe((side / 2) ** 2 * 128);
        const ref = torchEmbeddings(TINY_MMPROJ, img);
        const r = compareArrays(ours, ref, TORCH_TOL, `tinygemma3 ${side}x${side}`);
        expect(r.ok, r.message).toBe(true);
      }
    } finally {
      enc.dispose();
    }
  }, 600_000);

  it.skipIf(skip !== null)('with pooling (scale_factor 2) and a Q8_0 projection (dequantized, transposed at load)', async () => {
    const gpu = await testGpu();
    const bytes = editMmproj(mmproj, {
      metadata: { 'clip.vision.projector.scale_factor': gv.u32(2) },
      retype: { 'mm.input_projection.weight': 'Q8_0' },
    });
    const path = tempFile(bytes, 'mmproj-pool2-q8.gguf');
    const g = await openGgufPath(path);
    const enc = await VisionEncoder.load(gpu, g);
    await g.close();
    try {
      const img = randomPixels(32, 3);
      expect(enc.tokenCount(img)).toBe(64);
      const ours = await enc.encode(img);
      const r = compareArrays(ours, torchEmbeddings(path, img), TORCH_TOL, 'tinygemma3 pooled 2x2, Q8_0 projection');
      expect(r.ok, r.message).toBe(true);
      // A wrong image size is a typed error, and the encoder still works afterwards.
      await expect(enc.encode({ width: 30, height: 32, data: new Float32Array(3 * 30 * 32) })).rejects.toThrow(/multiples of 4/);
      await expect(enc.encode({ width: 32, height: 32, data: new Float32Array(5) })).rejects.toThrow(/holds 5 values/);
      expect((await enc.encode(randomPixels(16, 4))).length).toBe(16 * 128);
    } finally {
      enc.dispose();
    }
  }, 600_000);
});
