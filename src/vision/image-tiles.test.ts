// Preprocessing for the LLaVA and idefics3 families, on hand-worked small cases: clip's bicubic filter,
// letterboxing on LLaVA's background colour, the idefics3 refined size and tile cut.
import { describe, expect, it } from 'vitest';
import { idefics3Grid, letterboxClip, LLAVA_PAD_COLOR, preprocessLlava, resizeBicubicClip, resizeBilinearClip, splitIdefics3, type RgbImage } from './image.ts';

function rgb(width: number, height: number, px: (x: number, y: number) => [number, number, number]): RgbImage {
  const data = new Uint8Array(3 * width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(px(x, y), 3 * (y * width + x));
  return { width, height, channels: 3, data };
}

const channel = (buf: Uint8Array, c: number) => Array.from(buf.filter((_, i) => i % 3 === c));

describe('clip bicubic resize', () => {
  it('2x1 -> 4x1 by hand: the cubic through clamped neighbours, overshoot rounded and clamped', () => {
    // R: 0, 90. At x = 0.5 the samples (0, 0, 90, 90) give 45; at x = 1.5 (0, 90, 90, 90) give 95.625 -> 96.
    // G: 90, 0 mirrors it, and at x = 1.5 (90, 0, 0, 0) gives -5.625 -> clamped to 0. B is constant.
    const src = rgb(2, 1, (x) => (x === 0 ? [0, 90, 10] : [90, 0, 10]));
    const out = resizeBicubicClip(src.data as Uint8Array, 2, 1, 4, 1);
    expect(channel(out, 0)).toEqual([0, 45, 90, 96]);
    expect(channel(out, 1)).toEqual([90, 45, 0, 0]);
    expect(channel(out, 2)).toEqual([10, 10, 10, 10]);
  });

  it('a constant image stays constant at any size; source step n / target (no half-pixel offset)', () => {
    const flat = rgb(5, 3, () => [77, 0, 255]);
    const out = resizeBicubicClip(flat.data as Uint8Array, 5, 3, 7, 4);
    expect(channel(out, 0).every((v) => v === 77) && channel(out, 1).every((v) => v === 0) && channel(out, 2).every((v) => v === 255)).toBe(true);
    // Downscaling 4 -> 2 samples source columns 0 and 2 exactly (dx = 0), whatever their neighbours.
    const ramp = rgb(4, 1, (x) => [x * 50, 0, 0]);
    expect(channel(resizeBicubicClip(ramp.data as Uint8Array, 4, 1, 2, 1), 0)).toEqual([0, 100]);
  });
});

describe('LLaVA letterbox', () => {
  it('pads with rgb(122, 116, 104) around the fitted image, then normalizes with the CLIP mean and std', () => {
    const img = rgb(4, 2, () => [200, 10, 50]);
    const out = letterboxClip(img, 4, LLAVA_PAD_COLOR);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) {
        expect(Array.from(out.subarray(3 * (y * 4 + x), 3 * (y * 4 + x) + 3))).toEqual(y === 0 || y === 3 ? [122, 116, 104] : [200, 10, 50]);
      }
    }
    const mean = [0.48145466, 0.4578275, 0.40821073], std = [0.26862954, 0.26130258, 0.27577711];
    const px = preprocessLlava(img, { imageSize: 4, imageMean: mean, imageStd: std });
    // Planar: the red plane's first value is the pad's 122; (122 / 255 - mean) / std in float32.
    expect(px.data[0]).toBeCloseTo((122 / 255 - mean[0]) / std[0], 6);
    expect(px.data[16 + 4]).toBeCloseTo((10 / 255 - mean[1]) / std[1], 6);
  });
});

describe('idefics3 split', () => {
  it('refined size: longer side to the longest edge (up or down), sides rounded up to tiles', () => {
    expect(idefics3Grid(100, 50, 8, 20)).toEqual({ width: 24, height: 16, cols: 3, rows: 2 });
    expect(idefics3Grid(30, 30, 8, 8)).toEqual({ width: 8, height: 8, cols: 1, rows: 1 });
    expect(idefics3Grid(16, 8, 8, 16)).toEqual({ width: 16, height: 8, cols: 2, rows: 1 });
    expect(idefics3Grid(5, 3, 8, 32)).toEqual({ width: 32, height: 24, cols: 4, rows: 3 });
    expect(idefics3Grid(3, 5, 8, 32)).toEqual({ width: 24, height: 32, cols: 3, rows: 4 });
  });

  it('tiles are cut row by row from the refined image; the overview is the whole image resized', () => {
    // 16x8 at longest edge 16 is already the refined size: the two tiles are its halves, untouched.
    const img = rgb(16, 8, (x, y) => [x * 10, y * 20, (x + y) % 7]);
    const { grid, tiles, overview } = splitIdefics3(img, 8, 16);
    expect(grid).toEqual({ width: 16, height: 8, cols: 2, rows: 1 });
    expect(tiles.length).toBe(2);
    for (const [i, t] of tiles.entries()) {
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) expect(Array.from(t.subarray(3 * (y * 8 + x), 3 * (y * 8 + x) + 3))).toEqual([(x + 8 * i) * 10, y * 20, (x + 8 * i + y) % 7]);
    }
    expect(Array.from(overview)).toEqual(Array.from(resizeBilinearClip(img.data as Uint8Array, 16, 8, 8, 8)));
    // A 12x6 image at longest edge 16 is refined by bicubic to 16x8, then cut: 2 x 1 tiles.
    const small = rgb(12, 6, (x, y) => [x * 20, y * 40, 128]);
    const s2 = splitIdefics3(small, 8, 16);
    const refined = resizeBicubicClip(small.data as Uint8Array, 12, 6, 16, 8);
    expect(Array.from(s2.tiles[1].subarray(0, 24))).toEqual(Array.from(refined.subarray(24, 48)));
    expect(s2.tiles.length).toBe(2);
  });
});
