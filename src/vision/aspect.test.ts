// Absurd aspect ratios (issue 8's hostile media) through every family's preprocessing: a 1-pixel-wide
// or 1-pixel-tall image many thousands long, and a single pixel, must give exactly the inputs each encoder
// takes (right sizes, every value finite), never a zero-sized resize, a crash or a runaway tile count.
import { describe, expect, it } from 'vitest';
import { preprocessImage, preprocessLlava, splitIdefics3, type RgbImage } from './image.ts';
import { REKA_EDGE_PREPROCESS, yasa2Normalize, yasa2Tiles } from './yasa2/preprocess.ts';

const SHAPES: [number, number][] = [[1, 20000], [20000, 1], [1, 1], [3, 5000], [2, 300000]];

function image(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 255;
  return { width, height, channels: 4, data };
}

const finite = (a: ArrayLike<number>) => Array.prototype.every.call(a, (v: number) => Number.isFinite(v));

describe('absurd aspect ratios', () => {
  const o = { imageSize: 32, imageMean: [0.5, 0.5, 0.5], imageStd: [0.5, 0.5, 0.5] };
  for (const [w, h] of SHAPES) {
    it(`${w}x${h}: gemma3 and LLaVA letterbox, idefics3 tiles, Reka Edge tiles`, () => {
      const img = image(w, h);
      for (const p of [preprocessImage(img, o), preprocessLlava(img, o)]) {
        expect([p.width, p.height]).toEqual([32, 32]);
        expect(p.data.length).toBe(3 * 32 * 32);
        expect(finite(p.data)).toBe(true);
      }
      const split = splitIdefics3(img, 32, 128);
      expect(split.grid.cols * split.grid.rows).toBe(split.tiles.length);
      expect(split.tiles.length).toBeGreaterThanOrEqual(1);
      expect(split.tiles.length).toBeLessThanOrEqual(16); // longest edge 128 = 4 tiles per side
      for (const t of split.tiles) expect(t.length).toBe(3 * 32 * 32);
      expect(split.overview.length).toBe(3 * 32 * 32);

      const cfg = { ...REKA_EDGE_PREPROCESS, imageSize: 64 };
      const tiles = yasa2Tiles(img, cfg);
      expect(tiles.length).toBeGreaterThanOrEqual(1);
      expect(tiles.length).toBeLessThanOrEqual(cfg.maxTiles + 1); // the cuts and the whole image
      for (const t of tiles) {
        expect([t.width, t.height]).toEqual([64, 64]);
        expect(finite(yasa2Normalize(t, cfg))).toBe(true);
      }
    });
  }
});
