import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  REKA_EDGE_PREPROCESS, fitArea, pilResize, roundToMultiple, yasa2CutCount, yasa2FrameTile, yasa2Normalize,
  yasa2TilePlan, yasa2Tiles, type Yasa2PreprocessConfig,
} from './preprocess.ts';
import { ImageDecodeError, type RgbImage } from '../image.ts';
import { Rng } from '../../testing/rng.ts';
import { tempFile } from '../../testing/mmproj.ts';

const PYTHON = '/usr/bin/python3';
const ORACLE = fileURLToPath(new URL('../../testing/yasa2_preprocess_oracle.py', import.meta.url));
const R = REKA_EDGE_PREPROCESS;

function solid(width: number, height: number, paint: (x: number, y: number) => [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(paint(x, y), (y * width + x) * 3);
  return { width, height, channels: 3, data };
}

/** A smooth random image (sums of a few sinusoids), so resizes have real work to do. */
function smooth(width: number, height: number, seed: number): RgbImage {
  const rng = new Rng(seed);
  const ph = Array.from({ length: 9 }, () => rng.f32(1, Math.PI)[0]);
  return solid(width, height, (x, y) => [0, 1, 2].map((c) => {
    const v = 128 + 60 * Math.sin(x / 7 + ph[c * 3]) + 50 * Math.cos(y / 5 + ph[c * 3 + 1]) + 17 * Math.sin((x + y) / 3 + ph[c * 3 + 2]);
    return Math.max(0, Math.min(255, Math.round(v)));
  }) as [number, number, number]);
}

describe('yasa2 tile plan (Reka anyres UHD, S = 512, at most 4 cuts)', () => {
  it('rounds to multiples of the patch half to even, as Python does', () => {
    expect(roundToMultiple(627, 4)).toBe(628); // 156.75 -> 157
    expect(roundToMultiple(418, 4)).toBe(416); // 104.5 -> 104 (even)
    expect(roundToMultiple(422, 4)).toBe(424); // 105.5 -> 106 (even)
    expect(roundToMultiple(1, 4)).toBe(4); // never below one patch
  });

  it('keeps one tile up to 512² pixels, fitted to about 512² with the aspect kept', () => {
    // 300 x 200: area 0.23 of a tile -> one. h = floor(512 / sqrt(1.5)) = 418 -> 416, w = floor(418 * 1.5) = 627 -> 628.
    expect(yasa2TilePlan(300, 200, R)).toEqual({ cuts: 1, grid: null, resized: { width: 628, height: 416 }, tiles: 1 });
    expect(fitArea(512, 512, 512, 4)).toEqual({ width: 512, height: 512 });
    expect(yasa2TilePlan(512, 512, R).tiles).toBe(1);
  });

  it('chooses the grid whose aspect is nearest the image\'s, among factor pairs of n and n + 1', () => {
    const grid = (w: number, h: number) => yasa2TilePlan(w, h, R).grid;
    // 1024 x 512: n = 2 -> candidates (1,2) (2,1) (1,3) (3,1); log 2 matches (2,1) exactly.
    expect(grid(1024, 512)).toEqual({ cols: 2, rows: 1 });
    expect(grid(512, 1024)).toEqual({ cols: 1, rows: 2 });
    // 1024 x 1024: n = 4 = max -> only 4's pairs: (2,2).
    expect(grid(1024, 1024)).toEqual({ cols: 2, rows: 2 });
    // 2000 x 500: n = ceil(3.81) = 4 -> (4,1).
    expect(grid(2000, 500)).toEqual({ cols: 4, rows: 1 });
    // 700 x 400: n = 2 (1.07 tiles); log 1.75 = 0.56 is nearest log 2 -> (2,1).
    expect(grid(700, 400)).toEqual({ cols: 2, rows: 1 });
    // 900 x 600: n = 3 (2.06); candidates of 3 and 4: log 1.5 = 0.405; (2,2) is 0.405 away, (3,1) 0.69,
    // so the grid grows to 2 x 2 = 4 cuts.
    expect(yasa2TilePlan(900, 600, R)).toMatchObject({ cuts: 4, grid: { cols: 2, rows: 2 }, tiles: 5 });
    // 5000 x 5000: capped at 4.
    expect(yasa2CutCount(5000, 5000, R)).toBe(4);
  });

  it('resizes to whole cells of about 512² each before cutting', () => {
    // 1024 x 512 in (2,1): cell 512 x 512 -> fits as 512 x 512; the image is already that size.
    expect(yasa2TilePlan(1024, 512, R).resized).toEqual({ width: 1024, height: 512 });
    // 700 x 400 in (2,1): cell 350 -> 352 x 400; aspect 0.88: h = floor(512 / sqrt(0.88)) = 545 -> 544,
    // w = floor(545 * 0.88) = 479 -> 480; image resized to 960 x 544.
    expect(yasa2TilePlan(700, 400, R).resized).toEqual({ width: 960, height: 544 });
  });

  it('puts the whole image first, then the cells row-major', () => {
    const S = 16;
    const cfg: Yasa2PreprocessConfig = { ...R, imageSize: S };
    // 32 x 32 in four coloured quadrants: n = 4 -> (2,2), cells of exactly 16 x 16, nothing resized.
    const quad = solid(32, 32, (x, y) => (y < 16 ? (x < 16 ? [255, 0, 0] : [0, 255, 0]) : (x < 16 ? [0, 0, 255] : [255, 255, 0])));
    const tiles = yasa2Tiles(quad, cfg);
    expect(tiles.length).toBe(5);
    const first = (t: RgbImage) => [...t.data.subarray(0, 3)];
    const uniform = (t: RgbImage) => t.data.every((v, i) => v === t.data[i % 3]);
    expect(tiles.slice(1).map(first)).toEqual([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]]);
    expect(tiles.slice(1).every(uniform)).toBe(true);
    // The whole-image tile is the 32 x 32 image squashed to 16 x 16: all four colours, mixed at the seams.
    expect(tiles[0].width).toBe(S);
    expect(first(tiles[0])).toEqual([255, 0, 0]);
    expect([...tiles[0].data.subarray((S * S - 1) * 3)]).toEqual([255, 255, 0]);
    expect(uniform(tiles[0])).toBe(false);
  });

  it('refuses an empty image with a typed error', () => {
    expect(() => yasa2TilePlan(0, 10, R)).toThrow(ImageDecodeError);
    expect(() => yasa2Tiles({ width: 4, height: 4, channels: 3, data: new Uint8Array(5) }, R)).toThrow(/pixel buffer of 5 bytes/);
  });
});

describe('Pillow resampling in TypeScript', () => {
  it('leaves a constant image constant and a same-size resize untouched', () => {
    const c = solid(7, 5, () => [10, 200, 255]);
    for (const f of ['bilinear', 'bicubic'] as const) {
      const r = pilResize(c, 3, 11, f);
      expect(r.data.every((v, i) => v === [10, 200, 255][i % 3])).toBe(true);
    }
    const img = smooth(9, 6, 1);
    expect(pilResize(img, 9, 6, 'bicubic').data).toEqual(img.data);
  });

  it('shrinks 4 -> 2 with a bilinear filter widened by the scale (hand-worked)', () => {
    // Output 0: centre 1.0, support 2 -> inputs 0..2 with triangle weights at 0.25, 0.25, 0.75 from the
    // centre (scaled by 1/2): 0.75, 0.75, 0.25 -> normalized 3/7, 3/7, 1/7. Row [0, 100, 200, 255] gives
    // 100 * 3/7 + 200 / 7 = 71.4 -> 71. Output 1: centre 3.0, inputs 1..3: 1/7, 3/7, 3/7 -> 100/7 + 200*3/7 + 255*3/7 = 209.3 -> 209.
    const row = solid(4, 1, (x) => { const v = [0, 100, 200, 255][x]; return [v, v, v]; });
    expect([...pilResize(row, 2, 1, 'bilinear').data].filter((_, i) => i % 3 === 0)).toEqual([71, 209]);
  });
});

describe('yasa2 preprocessing against Pillow (yasa2_preprocess_oracle.py)', () => {
  function oracle(mode: 'image' | 'frame', img: RgbImage, cfg: Yasa2PreprocessConfig): { u8: Uint8Array; f32: Float32Array; tiles: number } {
    const input = tempFile(img.data as Uint8Array, 'img.u8');
    const outU8 = input.replace(/img\.u8$/, 'tiles.u8'), outF32 = input.replace(/img\.u8$/, 'tiles.f32');
    const r = spawnSync(PYTHON, [ORACLE, mode, input, String(img.width), String(img.height), String(cfg.imageSize), String(cfg.patchSize), String(cfg.maxTiles), outU8, outF32], { encoding: 'utf8', timeout: 120_000 });
    // Not a skip: scripts/setup.sh installs python3-pil, so its absence is a setup failure.
    if (r.status !== 0) throw new Error(`yasa2 preprocess oracle failed (exit ${r.status}): ${r.stderr || r.error?.message}`);
    const b = readFileSync(outF32);
    return { u8: new Uint8Array(readFileSync(outU8)), f32: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), tiles: JSON.parse(r.stdout).tiles };
  }

  const cases: [string, number, number, Partial<Yasa2PreprocessConfig>][] = [
    ['one tile, upscaled (90 x 60, S 64)', 90, 60, { imageSize: 64 }],
    ['3 cuts in (3,1) + whole (300 x 140, S 128)', 300, 140, { imageSize: 128 }],
    ['2 x 2 with a downscale (333 x 301, S 128)', 333, 301, { imageSize: 128 }],
    ['tall (1,2) (70 x 150, S 64)', 70, 150, { imageSize: 64 }],
    ['Reka Edge size, 4 cuts (1100 x 700, S 512)', 1100, 700, {}],
  ];
  for (const [name, w, h, over] of cases) {
    it(`tiles and normalized pixels equal Pillow + numpy bit for bit: ${name}`, () => {
      const cfg = { ...R, ...over };
      const img = smooth(w, h, w * 31 + h);
      const want = oracle('image', img, cfg);
      const tiles = yasa2Tiles(img, cfg);
      expect(tiles.length).toBe(want.tiles);
      expect(tiles.length).toBe(yasa2TilePlan(w, h, cfg).tiles);
      const S = cfg.imageSize;
      tiles.forEach((t, i) => {
        expect(t.width === S && t.height === S).toBe(true);
        const exp = want.u8.subarray(i * S * S * 3, (i + 1) * S * S * 3);
        let diff = 0;
        for (let j = 0; j < exp.length; j++) if (t.data[j] !== exp[j]) diff++;
        expect(diff, `tile ${i}: bytes differing from Pillow`).toBe(0);
        const got = yasa2Normalize(t, cfg), ref = want.f32.subarray(i * 3 * S * S, (i + 1) * 3 * S * S);
        let fdiff = 0;
        for (let j = 0; j < ref.length; j++) if (!Object.is(got[j], ref[j])) fdiff++;
        expect(got.length).toBe(ref.length);
        expect(fdiff, `tile ${i}: normalized values differing from numpy`).toBe(0);
      });
    });
  }

  it('a video frame is one bilinear squash, no tiling', () => {
    const cfg = { ...R, imageSize: 64 };
    const img = smooth(150, 90, 5);
    const want = oracle('frame', img, cfg);
    expect(want.tiles).toBe(1);
    expect(yasa2FrameTile(img, cfg).data).toEqual(want.u8);
  });
});
