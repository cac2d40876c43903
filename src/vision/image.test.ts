import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { Rng } from '../testing/rng.ts';
import { checkImageSize, ImageDecodeError, letterboxClip, normalizeRgb, preprocessImage, readImageHeader, resizeBilinearClip, type RgbImage } from './image.ts';
import { decodeImage } from './image-node.ts';

function pngBytes(width: number, height: number, rgba: Uint8Array): Uint8Array {
  const png = new PNG({ width, height });
  png.data.set(rgba);
  return new Uint8Array(PNG.sync.write(png));
}

function randomRgba(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: 4 * n }, () => rng.int(0, 256));
}

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ImageDecodeError);
    return (e as ImageDecodeError).problem;
  }
  throw new Error('expected an ImageDecodeError');
}

describe('image decoding', () => {
  it('PNG round trip: RGBA pixels come back exactly, the header gives the size', () => {
    const rgba = randomRgba(7 * 5, 1);
    const bytes = pngBytes(7, 5, rgba);
    expect(readImageHeader(bytes)).toEqual({ format: 'png', width: 7, height: 5 });
    const img = decodeImage(bytes);
    expect([img.width, img.height, img.channels]).toEqual([7, 5, 4]);
    expect(Array.from(img.data)).toEqual(Array.from(rgba));
  });

  it('JPEG: the header gives the size, a flat colour decodes to itself within JPEG rounding', () => {
    const w = 24, h = 16;
    const rgba = new Uint8Array(4 * w * h);
    for (let i = 0; i < w * h; i++) rgba.set([200, 40, 90, 255], 4 * i);
    const bytes = new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 95).data);
    expect(readImageHeader(bytes)).toEqual({ format: 'jpeg', width: w, height: h });
    const img = decodeImage(bytes);
    expect([img.width, img.height, img.channels]).toEqual([w, h, 3]);
    for (let i = 0; i < w * h; i++) {
      expect(Math.abs(img.data[3 * i] - 200)).toBeLessThanOrEqual(3);
      expect(Math.abs(img.data[3 * i + 1] - 40)).toBeLessThanOrEqual(3);
      expect(Math.abs(img.data[3 * i + 2] - 90)).toBeLessThanOrEqual(3);
    }
  });

  it('refuses empty, unknown, corrupt, truncated and zero-size images with typed errors', () => {
    const good = pngBytes(8, 8, randomRgba(64, 2));
    expect(problem(() => decodeImage(new Uint8Array(0)))).toBe('empty');
    expect(problem(() => decodeImage(new TextEncoder().encode('GIF89a....')))).toBe('unsupported format');
    expect(() => decodeImage(new TextEncoder().encode('RIFF\0\0\0\0WEBPVP8 '))).toThrow(/looks like WebP/);
    expect(problem(() => decodeImage(good.subarray(0, 20)))).toBe('corrupt');
    expect(problem(() => decodeImage(good.subarray(0, good.length - 30)))).toBe('corrupt');
    const flipped = good.slice();
    flipped[40] ^= 0xff; // inside the IDAT data: the CRC (or inflate) fails
    expect(problem(() => decodeImage(flipped))).toBe('corrupt');
    const zero = good.slice();
    new DataView(zero.buffer).setUint32(16, 0); // IHDR width 0
    expect(problem(() => decodeImage(zero))).toBe('empty');
    expect(problem(() => decodeImage(Uint8Array.from([0xff, 0xd8, 0xff, 0xd9])))).toBe('corrupt');
    const jpg = new Uint8Array(jpeg.encode({ width: 16, height: 16, data: randomRgba(256, 3) }, 80).data);
    expect(problem(() => decodeImage(jpg.subarray(0, jpg.length / 2)))).toBe('corrupt');
  });

  it('refuses a decompression bomb from its header alone: no pixel memory is touched', () => {
    // A valid 8x8 PNG whose IHDR claims 60000 x 60000 (3.6 gigapixels, 14 GB as RGBA).
    const bomb = pngBytes(8, 8, randomRgba(64, 4));
    const dv = new DataView(bomb.buffer);
    dv.setUint32(16, 60000);
    dv.setUint32(20, 60000);
    const before = process.memoryUsage().arrayBuffers;
    expect(problem(() => decodeImage(bomb))).toBe('too large');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
    expect(() => decodeImage(pngBytes(64, 64, randomRgba(4096, 5)), { maxPixels: 4000 })).toThrow(/64 x 64 = 4096 pixels, above the budget of 4000/);
    // A JPEG's frame header is found past other segments and checked the same way.
    const jpg = new Uint8Array(jpeg.encode({ width: 16, height: 16, data: randomRgba(256, 6) }, 80).data);
    const sof = jpg.findIndex((b, i) => b === 0xff && jpg[i + 1] === 0xc0);
    new DataView(jpg.buffer).setUint16(sof + 5, 50000);
    new DataView(jpg.buffer).setUint16(sof + 7, 50000);
    expect(problem(() => decodeImage(jpg))).toBe('too large');
    expect(() => checkImageSize(10, 10, 100)).not.toThrow();
  });
});

describe('gemma3 preprocessing (llama.cpp clip)', () => {
  it('bilinear: source step (n - 1) / target, truncated to u8', () => {
    // One channel row 0, 100, 200 (three pixels) to two: x_ratio = 2 / 2 = 1 -> samples at 0 and 1.
    const src = Uint8Array.from([0, 0, 0, 100, 100, 100, 200, 200, 200]);
    expect(Array.from(resizeBilinearClip(src, 3, 1, 2, 1))).toEqual([0, 0, 0, 100, 100, 100]);
    // To four: x_ratio = 0.5 -> 0, 0.5, 1, 1.5 -> 0, 50, 100, 150.
    expect(Array.from(resizeBilinearClip(src, 3, 1, 4, 1)).filter((_, i) => i % 3 === 0)).toEqual([0, 50, 100, 150]);
    // 0 -> 255 over 4 pixels to 3: ratio 1 -> 0, 85, 170 exactly; to 5: ratio 0.6 -> 0, 51, 102, 153, 204
    const ramp = Uint8Array.from([0, 85, 170, 255].flatMap((v) => [v, v, v]));
    expect(Array.from(resizeBilinearClip(ramp, 4, 1, 5, 1)).filter((_, i) => i % 3 === 0)).toEqual([0, 51, 102, 153, 204]);
  });

  it('letterbox: aspect kept, centred on black, alpha dropped; the trained size passes through', () => {
    const w = 64, h = 32;
    const rgba = new Uint8Array(4 * w * h);
    for (let i = 0; i < w * h; i++) rgba.set([10, 20, 30, i % 2 ? 0 : 255], 4 * i);
    const out = letterboxClip({ width: w, height: h, channels: 4, data: rgba }, 32);
    // scale 0.5 -> 32 x 16, rows 8..23 hold the image, the rest is black
    for (let y = 0; y < 32; y++) {
      const inside = y >= 8 && y < 24;
      for (let x = 0; x < 32; x++) expect(Array.from(out.subarray(3 * (y * 32 + x), 3 * (y * 32 + x) + 3))).toEqual(inside ? [10, 20, 30] : [0, 0, 0]);
    }
    const same: RgbImage = { width: 32, height: 32, channels: 4, data: randomRgba(1024, 7) };
    const kept = letterboxClip(same, 32);
    for (let i = 0; i < 1024; i++) expect([kept[3 * i], kept[3 * i + 1], kept[3 * i + 2]]).toEqual([same.data[4 * i], same.data[4 * i + 1], same.data[4 * i + 2]]);
  });

  it('normalizes to planar (v / 255 - mean) / std and refuses buffers that do not match their size', () => {
    const px = normalizeRgb(Uint8Array.from([0, 255, 51, 255, 0, 102]), 2, 1, [0.5, 0.5, 0.5], [0.5, 0.5, 0.25]);
    expect(Array.from(px.data)).toEqual([-1, 1, 1, -1, Math.fround(Math.fround(Math.fround(51 / 255) - 0.5) / 0.25), Math.fround(Math.fround(Math.fround(102 / 255) - 0.5) / 0.25)]);
    const opts = { imageSize: 4, imageMean: [0.5, 0.5, 0.5], imageStd: [0.5, 0.5, 0.5] };
    expect(preprocessImage({ width: 3, height: 5, channels: 4, data: randomRgba(15, 8) }, opts).data.length).toBe(3 * 16);
    expect(problem(() => preprocessImage({ width: 3, height: 5, channels: 4, data: new Uint8Array(10) }, opts))).toBe('corrupt');
    expect(problem(() => preprocessImage({ width: 0, height: 5, channels: 3, data: new Uint8Array(0) }, opts))).toBe('empty');
  });
});
