// The LLaVA (mlp) and idefics3 projectors end to end, image -> embeddings, on tiny random-weight mmprojs
// the tests write (src/testing/mmproj.ts), against the float64 torch oracle (src/testing/
// clip_torch_oracle.py, written from the Hugging Face models: CLIP's class token at position 0, quick
// GELU, LLaVA's linear-GELU-linear, Idefics3Connector's pixel shuffle).
import { describe, expect, it } from 'vitest';
import { gv } from '../formats/gguf-writer.ts';
import { openGgufPath } from '../formats/gguf-node.ts';
import { Rng } from '../testing/rng.ts';
import { compareArrays } from '../testing/compare.ts';
import { testGpu } from '../testing/gpu.ts';
import { editMmproj, openMmprojBytes, tempFile, tinyMmprojBytes, torchEmbeddings, torchUnavailable, type MmprojContents, type TinyMmprojOptions } from '../testing/mmproj.ts';
import { bytesSource, openGguf } from '../formats/gguf.ts';
import { checkClipTensors, checkProjectorWidth, imageTokenCount, ProjectorWidthError, readClipHparams, UnsupportedProjectorError, VisionConfigError } from './clip.ts';
import { pixelShuffleRows, VisionEncoder, type PixelTensor } from './encoder.ts';

// f32 vs f64 through two blocks and the projector, outputs of magnitude ~1-3: measured max abs error is
// printed by compareArrays on failure; allowed 1e-5 abs + 1e-5 rel, as for gemma3 (a wrong op — the
// class token at the wrong position, tanh instead of quick GELU, an untransposed shuffle — moves outputs
// by 1e-2 or more).
const TORCH_TOL = { atol: 1e-5, rtol: 1e-5 };

function randomPixels(side: number, seed: number): PixelTensor {
  const rng = new Rng(seed);
  return { width: side, height: side, data: rng.f32(3 * side * side, 1, 'uniform') };
}

async function contents(o: TinyMmprojOptions): Promise<MmprojContents> {
  const g = await openGguf(bytesSource(tinyMmprojBytes(o), 'tiny.gguf'));
  const tensors = [];
  for (const t of g.tensors) tensors.push({ name: t.name, shape: t.shape, type: t.type, data: await g.readTensorBytes(t) });
  return { metadata: new Map(g.metadata), tensors };
}

describe('pixel shuffle as a row gather', () => {
  it('4x4 grid, factor 2: output row (by, bx) holds rows (2by + dy, 2bx + dx) in (dy, dx) order', () => {
    // Grid rows numbered r = y * 4 + x. Output block (0,0) = rows 0,1,4,5; (0,1) = 2,3,6,7; (1,0) = 8,9,12,13.
    expect(Array.from(pixelShuffleRows(4, 4, 2))).toEqual([0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15]);
    // Factor 1 is the identity; a 6x6 grid by 3 takes every row exactly once.
    expect(Array.from(pixelShuffleRows(2, 2, 1))).toEqual([0, 1, 2, 3]);
    const ids = Array.from(pixelShuffleRows(6, 6, 3));
    expect(ids.slice(0, 9)).toEqual([0, 1, 2, 6, 7, 8, 12, 13, 14]);
    expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: 36 }, (_, i) => i));
  });
});

describe('mlp and idefics3 hyperparameters', () => {
  it('LLaVA: class token, quick GELU, no merge, one soft token per patch; idefics3: shuffle by 2, tanh GELU', async () => {
    const g = await openMmprojBytes(tinyMmprojBytes({ projector: 'mlp' }));
    const hp = readClipHparams(g);
    expect(hp).toMatchObject({ projector: 'mlp', imageSize: 8, patchSize: 2, nEmbd: 32, mergeFactor: 1, projHidden: 48, outputWidth: 24, posGridSide: 4, hasClassEmbedding: true, hasPreNorm: true, hasPostNorm: false, hasPatchBias: false, ffnAct: 'quick-gelu', ffnSwapped: false });
    expect(imageTokenCount(hp)).toBe(16);
    checkClipTensors(g, hp);

    const gi = await openMmprojBytes(tinyMmprojBytes({ projector: 'idefics3', longestEdge: 20 }));
    const hi = readClipHparams(gi);
    expect(hi).toMatchObject({ projector: 'idefics3', mergeFactor: 2, outputWidth: 24, hasClassEmbedding: false, hasPatchBias: true, hasPostNorm: true, ffnAct: 'gelu', imageLongestEdge: 20 });
    expect(imageTokenCount(hi)).toBe(4);
    checkClipTensors(gi, hi);
    // Without scale_factor the factor comes from the projection's width (32 * 2 * 2 = 128 -> 2).
    const noScale = await openMmprojBytes(editMmproj(await contents({ projector: 'idefics3' }), { metadata: { 'clip.vision.projector.scale_factor': null } }));
    expect(readClipHparams(noScale)).toMatchObject({ mergeFactor: 2, imageLongestEdge: 8 });
  });

  it('older files with ffn_up / ffn_down swapped are read the way llama.cpp reads them', async () => {
    const g = await openMmprojBytes(tinyMmprojBytes({ projector: 'mlp', swapFfn: true }));
    const hp = readClipHparams(g);
    expect(hp.ffnSwapped).toBe(true);
    checkClipTensors(g, hp);
  });

  it('refuses an unknown projector, an output width that is not the text model\'s, silu, feature layers, anyres and leftovers', async () => {
    const llava = await contents({ projector: 'mlp' });
    const hpOf = async (e: Parameters<typeof editMmproj>[1], src = llava) => { const g = await openMmprojBytes(editMmproj(src, e)); const hp = readClipHparams(g); checkClipTensors(g, hp); return hp; };
    await expect(hpOf({ metadata: { 'clip.projector_type': gv.string('resampler') } })).rejects.toThrow(UnsupportedProjectorError);
    await expect(hpOf({ metadata: { 'clip.projector_type': gv.string('resampler') } })).rejects.toThrow(/'resampler' is not supported \(supported: gemma3, mlp, idefics3\)/);
    await expect(hpOf({ metadata: { 'clip.use_silu': gv.bool(true) } })).rejects.toThrow(/silu/);
    await expect(hpOf({ metadata: { 'clip.vision.feature_layer': gv.array('i32', [3, 7]) } })).rejects.toThrow(/feature_layer/);
    await expect(hpOf({ metadata: { 'clip.vision.image_grid_pinpoints': gv.array('i32', [336, 672]) } })).rejects.toThrow(/anyres/);
    await expect(hpOf({ drop: ['v.class_embd', 'v.position_embd.weight'], add: [{ name: 'v.position_embd.weight', shape: [16, 32], type: 'F32', values: new Float32Array(16 * 32) }] })).rejects.toThrow(/after the class position/);
    await expect(hpOf({ add: [{ name: 'mm.3.weight', shape: [24, 24], type: 'F32', values: new Float32Array(24 * 24) }] })).rejects.toThrow(/does not use: mm.3.weight/);
    await expect(hpOf({ drop: ['mm.2.weight'] })).rejects.toThrow(/'mm.2.weight' is missing/);
    const idefics = await contents({ projector: 'idefics3' });
    await expect(hpOf({ metadata: { 'clip.vision.projector.scale_factor': gv.u32(3) } }, idefics)).rejects.toThrow(/scale factor 3/);
    await expect(hpOf({ metadata: { 'clip.vision.preproc_image_size': gv.u32(4) } }, idefics)).rejects.toThrow(/below the tile size/);
    await expect(hpOf({ metadata: { 'clip.vision.preproc_image_size': gv.u32(4_000_000_000) } }, idefics)).rejects.toThrow(/more than 16 tiles of 8 per side/);

    const hp = await hpOf({});
    const e = (() => { try { checkProjectorWidth(hp, 64); } catch (x) { return x; } })() as ProjectorWidthError;
    expect(e).toBeInstanceOf(ProjectorWidthError);
    expect(e.details).toMatchObject({ projectorWidth: 24, textWidth: 64 });
    const hi = await hpOf({}, idefics);
    expect(() => checkProjectorWidth(hi, 24)).not.toThrow();
    await expect(hpOf({ metadata: { 'general.architecture': gv.string('llama') } })).rejects.toThrow(VisionConfigError);
  });
});

describe('mlp and idefics3 encoders on the GPU against torch', () => {
  const skip = torchUnavailable();
  it('torch is available for the independent check', () => {
    expect(skip).toBeNull();
  });

  const cases: [string, TinyMmprojOptions, number][] = [
    ['LLaVA mlp: CLIP class token, pre-LN, quick GELU, F32', { projector: 'mlp', seed: 11 }, 1],
    ['LLaVA mlp with swapped ffn names and F16 matrices', { projector: 'mlp', seed: 12, swapFfn: true, matrixType: 'F16' }, 2],
    ['idefics3: SigLIP, patch bias, post-LN, tanh GELU, pixel shuffle by 2', { projector: 'idefics3', seed: 13 }, 3],
    ['idefics3: 12px tiles, shuffle by 3 (the grid no longer a power of two)', { projector: 'idefics3', seed: 14, imageSize: 12, scaleFactor: 3, nEmbd: 40, nHead: 5 }, 4],
  ];
  for (const [name, o, seed] of cases) {
    it.skipIf(skip !== null)(name, async () => {
      const gpu = await testGpu();
      const path = tempFile(tinyMmprojBytes(o), `tiny-${o.projector}-${seed}.gguf`);
      const g = await openGgufPath(path);
      const enc = await VisionEncoder.load(gpu, g);
      await g.close();
      try {
        const side = o.imageSize ?? 8;
        const img = randomPixels(side, seed);
        const ours = await enc.encode(img);
        const s = o.projector === 'mlp' ? 1 : (o.scaleFactor ?? 2);
        expect(ours.length).toBe((side / 2 / s) ** 2 * (o.outWidth ?? 24));
        const r = compareArrays(ours, torchEmbeddings(path, img), TORCH_TOL, name);
        expect(r.ok, r.message).toBe(true);
        // Another input size is refused (no position-embedding resize for these encoders), and the encoder still works.
        await expect(enc.encode(randomPixels(side * 2, 9))).rejects.toThrow(/takes \d+ x \d+ inputs/);
        expect((await enc.encode(img)).length).toBe(ours.length);
      } finally {
        enc.dispose();
      }
    }, 600_000);
  }
});
