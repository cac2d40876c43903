import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createYasa2Family, loadYasa2Family, yasa2MediaTokens, REKA_EDGE_MEDIA_TOKENS } from './family.ts';
import { REKA_EDGE_PREPROCESS, yasa2TilePlan } from './preprocess.ts';
import type { Yasa2Config } from './config.ts';
import { uploadYasa2Weights } from './weights.ts';
import type { MediaChunk, VideoFrame } from '../family.ts';
import type { RgbImage } from '../image.ts';
import { REKA_EDGE_TOKENS } from '../../models/reka-edge.ts';
import { MultimodalPromptError } from '../../runtime/multimodal.ts';
import { ProjectorWidthError } from '../clip.ts';
import { loadVisionFamily } from '../families.ts';
import type { TextTokenizer } from '../../tokenizer/tokenizer.ts';
import { yasa2Fixture } from '../../testing/yasa2-fixture.ts';
import { compareArrays, expectClose } from '../../testing/compare.ts';
import { testGpu } from '../../testing/gpu.ts';
import { tempFile, torchUnavailable } from '../../testing/mmproj.ts';
import { bytesSource, openGguf } from '../../formats/gguf.ts';

const PYTHON = '/usr/bin/python3';
const TORCH = fileURLToPath(new URL('../../testing/yasa2_torch_oracle.py', import.meta.url));
const PREPROCESS = fileURLToPath(new URL('../../testing/yasa2_preprocess_oracle.py', import.meta.url));

// A tiny Reka-Edge-shaped mmproj: 128-pixel tiles whose final map is 16 x 16 (256 tokens, as a real
// 512 tile's), so the 50-wide position table rows and the 2 x 2 pool are the real model's; projector
// to a 20-wide "decoder".
const TINY: Yasa2Config = {
  imageSize: 128, patchSize: 4, depths: [1, 2], widths: [8, 12], eps: 1e-6,
  posGridSide: 50, pooledSide: 8, projHidden: 24, projOut: 20,
};
const TOL = { atol: 1e-5, rtol: 1e-5 };

/** Smooth, position-dependent colours (seeded), so tiles and frames differ from each other. */
function picture(width: number, height: number, seed: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const v = 128 + 70 * Math.sin((x + 3 * seed) / (6 + c)) * Math.cos((y - seed) / (9 - c)) + 40 * Math.sin((x * (c + 1) + y) / 23 + seed);
        data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { width, height, channels: 3, data };
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(PYTHON, [cmd, ...args], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} failed (exit ${r.status}): ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** Pillow's preprocessing of one image or frame (normalized tiles, float32 [tiles, 3, S, S]). */
function pillowTiles(mode: 'image' | 'frame', img: RgbImage): Float32Array {
  const input = tempFile(img.data as Uint8Array, 'in.u8');
  const u8 = input.replace(/in\.u8$/, 'out.u8'), f32 = input.replace(/in\.u8$/, 'out.f32');
  run(PREPROCESS, [mode, input, String(img.width), String(img.height), String(TINY.imageSize), String(TINY.patchSize), '4', u8, f32]);
  const b = readFileSync(f32);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** The chunks' embedding rows read back, and the token ids in order (-1 per embedding row). */
async function readChunks(gpu: Awaited<ReturnType<typeof testGpu>>, chunks: MediaChunk[]): Promise<{ rows: Float32Array[]; layout: number[] }> {
  const rows: Float32Array[] = [];
  const layout: number[] = [];
  for (const c of chunks) {
    if (c.kind === 'tokens') layout.push(...c.ids);
    else if (c.kind === 'embeddings') {
      expect(c.causal).toBe(true);
      expect(c.embeddings.shape).toEqual([64, TINY.projOut]);
      rows.push(await gpu.readF32(c.embeddings));
      layout.push(...new Array<number>(64).fill(-1));
      c.embeddings.release();
    } else throw new Error(`unexpected ${c.kind} chunk`);
  }
  return { rows, layout };
}

describe('yasa2 VisionFamily (Reka Edge vision half)', () => {
  it('image (3 cuts + whole) and a 3-frame video -> prompt chunks -> embeddings equal Pillow + PyTorch', { timeout: 600_000 }, async () => {
    // Not a skip: CI installs python3-torch and python3-pil in scripts/setup.sh.
    expect(torchUnavailable()).toBeNull();
    const gpu = await testGpu();
    const fx = yasa2Fixture(TINY, 2603, { conv: 'F16' });
    const ggufBytes = fx.gguf();
    const family = await loadYasa2Family(gpu, await openGguf(bytesSource(ggufBytes, 'yasa2-tiny.gguf')));
    expect(family.projector).toBe('yasa2');
    expect(family.outputWidth).toBe(TINY.projOut);
    expect(family.defaultVideoFrames).toBe(6);

    // 300 x 140 on 128 tiles: 2.56 tiles -> 3 cuts, grid (3,1); the whole image comes first.
    const img = picture(300, 140, 1);
    expect(yasa2TilePlan(300, 140, { ...REKA_EDGE_PREPROCESS, imageSize: 128 })).toMatchObject({ grid: { cols: 3, rows: 1 }, tiles: 4 });
    const frames = [picture(100, 80, 2), picture(100, 80, 3), picture(100, 80, 4)];

    // Independent side: Pillow preprocessing, then PyTorch's ops on the same GGUF, tile by tile.
    const px = [pillowTiles('image', img), ...frames.map((f) => pillowTiles('frame', f))];
    const all = new Float32Array(px.reduce((n, p) => n + p.length, 0));
    px.reduce((at, p) => { all.set(p, at); return at + p.length; }, 0);
    const pixPath = tempFile(new Uint8Array(all.buffer), 'pixels.f32');
    const outPath = pixPath.replace(/pixels\.f32$/, 'torch.f32');
    run(TORCH, [tempFile(ggufBytes, 'yasa2-tiny.gguf'), pixPath, outPath]);
    const tb = readFileSync(outPath);
    const torch = new Float32Array(tb.buffer.slice(tb.byteOffset, tb.byteOffset + tb.byteLength));
    const block = (i: number) => torch.subarray(i * 64 * TINY.projOut, (i + 1) * 64 * TINY.projOut);
    expect(torch.length).toBe(7 * 64 * TINY.projOut);

    // The image: <image>, 4 x 64 rows, </image>; as many positions as imagePositions said.
    const image = await readChunks(gpu, await family.image(img));
    expect(image.layout.length).toBe(family.imagePositions(300, 140));
    expect(image.layout.length).toBe(4 * 64 + 2);
    expect(image.layout[0]).toBe(REKA_EDGE_TOKENS.imageStart);
    expect(image.layout[image.layout.length - 1]).toBe(REKA_EDGE_TOKENS.imageEnd);
    expect(image.layout.slice(1, -1).every((t) => t === -1)).toBe(true);
    image.rows.forEach((r, i) => expectClose(r, block(i), TOL, `image tile ${i} vs torch`));
    // Order is not vacuous: every tile differs from every other by far more than the tolerance.
    for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) expect(compareArrays(image.rows[i], block(j), TOL).ok, `tile ${i} vs torch tile ${j}`).toBe(false);

    // The video: <video>, 3 x 64 rows (one tile per frame, no cutting), </video>.
    async function* clip(): AsyncIterable<VideoFrame> {
      for (const [i, f] of frames.entries()) yield { image: f, timeMs: i * 1000 };
    }
    const video = await readChunks(gpu, await family.video!(clip()));
    expect(video.layout.length).toBe(3 * 64 + 2);
    expect(video.layout[0]).toBe(REKA_EDGE_TOKENS.videoStart);
    expect(video.layout[video.layout.length - 1]).toBe(REKA_EDGE_TOKENS.videoEnd);
    video.rows.forEach((r, i) => expectClose(r, block(4 + i), TOL, `video frame ${i} vs torch`));
    expect(compareArrays(video.rows[0], block(5), TOL).ok).toBe(false);

    family.destroy();
    family.destroy(); // twice is harmless
    await expect(family.image(img)).rejects.toThrow(/after destroy/);
  });

  it('counts positions without encoding: one tile up to S² pixels, cuts + the whole image above', async () => {
    const gpu = await testGpu();
    const fx = yasa2Fixture(TINY, 7);
    const family = createYasa2Family(gpu, uploadYasa2Weights(gpu, TINY, fx.get), { ...REKA_EDGE_PREPROCESS, imageSize: 128 });
    expect(family.imagePositions(128, 128)).toBe(64 + 2);
    expect(family.imagePositions(129, 128)).toBe(3 * 64 + 2); // 2 cuts + whole
    expect(family.imagePositions(256, 256)).toBe(5 * 64 + 2); // 2 x 2 + whole
    expect(family.imagePositions(4000, 3000)).toBe(5 * 64 + 2); // capped at 4 cuts
    expect(family.videoPositions([{ width: 100, height: 80 }, { width: 100, height: 80 }, { width: 100, height: 80 }])).toBe(3 * 64 + 2);
    expect(family.maxRows).toBe(64);
    const w2 = uploadYasa2Weights(gpu, TINY, fx.get);
    expect(() => createYasa2Family(gpu, w2, REKA_EDGE_PREPROCESS)).toThrow(/512-pixel tiles, the encoder takes 128/);
    w2.destroy();
    family.destroy();
    const gguf = await openGguf(bytesSource(fx.gguf(), 'yasa2-tiny.gguf'));
    await expect(loadYasa2Family(gpu, gguf, undefined, { textWidth: 4096 })).rejects.toThrow(ProjectorWidthError);
    await expect(loadYasa2Family(gpu, gguf, undefined, { textWidth: 4096 })).rejects.toThrow(/width 20 but the text model's width is 4096/);
  });

  it('looks the media tokens up in the vocabulary, and refuses one without them', async () => {
    const vocab = new Map([['<image>', 100279], ['</image>', 100280], ['<video>', 100284], ['</video>', 100285]]);
    const byId = new Map([...vocab].map(([t, id]) => [id, t]));
    const tok = {
      encode: (text: string) => (vocab.has(text) ? [vocab.get(text)!] : [...text].map((c) => c.charCodeAt(0))),
      tokenText: (id: number) => byId.get(id) ?? String.fromCharCode(id),
    } as unknown as TextTokenizer;
    expect(yasa2MediaTokens(tok)).toEqual(REKA_EDGE_MEDIA_TOKENS);
    // The engine's registry dispatches clip.projector_type 'yasa2' here, with the text side's vocabulary and width.
    const gpu = await testGpu();
    const gguf = await openGguf(bytesSource(yasa2Fixture(TINY, 11).gguf(), 'yasa2-tiny.gguf'));
    const viaRegistry = await loadVisionFamily(gpu, gguf, { tokenizer: tok, width: TINY.projOut });
    expect(viaRegistry.projector).toBe('yasa2');
    expect(viaRegistry.imagePositions(300, 140)).toBe(4 * 64 + 2);
    viaRegistry.destroy();
    await expect(loadVisionFamily(gpu, gguf, { tokenizer: tok, width: 64 })).rejects.toThrow(ProjectorWidthError);
    vocab.delete('</video>');
    expect(() => yasa2MediaTokens(tok)).toThrow(MultimodalPromptError);
    expect(() => yasa2MediaTokens(tok)).toThrow(/no '<\/video>' token/);
  });
});
