// Image preprocessing for the vision encoder, in plain TypeScript (no DOM, no Node APIs): find the size
// of an encoded PNG/JPEG from its header (so a pixel budget is enforced before anything is decoded),
// resize an RGB(A) buffer to the encoder's input as llama.cpp's clip does for gemma3, and rescale and
// normalize it into the planar float layout the encoder takes.
//
// gemma3 (llama.cpp tools/mtmd, clip_image_preprocess): the image is fitted inside image_size x image_size
// keeping its aspect ratio (scale = min(tw / w, th / h), sides ceil'd), resized with clip's bilinear filter
// (source step (n - 1) / target, no half-pixel offset, results truncated to u8), centred on black, then
// each value becomes (v / 255 - mean[c]) / std[c]. An image already at the target size is used as is.
// Alpha is dropped without compositing, as stb_image does when llama.cpp asks it for 3 channels.
//
// LLaVA 1.5 (projector 'mlp'): the same fit-and-centre with the bilinear filter, padded with LLaVA's
// background colour rgb(122, 116, 104) (the CLIP mean x 255) instead of black.
// idefics3 / SmolVLM: the image is resized keeping its aspect ratio so that its longer side is the
// preprocessor's longest edge, both sides rounded UP to multiples of the tile size (image_size); that
// refined image (clip's bicubic filter, no padding) is cut into tiles of image_size², row by row, and the
// whole image is also resized (bilinear, aspect ratio not kept) to one image_size² overview.

import { EdgewiseError } from '../errors.ts';
import type { PixelTensor } from './encoder.ts';

export type ImageProblem = 'unsupported format' | 'corrupt' | 'empty' | 'too large';

/** An image could not be used: unknown format, corrupt or truncated data, zero size, or over the pixel budget. */
export class ImageDecodeError extends EdgewiseError {
  override name = 'ImageDecodeError';
  constructor(readonly problem: ImageProblem, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(`image ${problem}: ${message}`, { problem, ...details }, cause === undefined ? undefined : { cause });
  }
}

/** Decoded pixels: 8-bit RGBA (4 channels) or RGB (3), row-major, no row padding. */
export interface RgbImage {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array | Uint8ClampedArray;
}

/** Default pixel budget: 50 megapixels (200 MB as RGBA); anything larger is refused before decoding. */
export const DEFAULT_MAX_PIXELS = 50_000_000;

// ---------------------------------------------------------------- header sniffing

export interface ImageHeader {
  format: 'png' | 'jpeg';
  width: number;
  height: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function looksLike(bytes: Uint8Array): string {
  const ascii = (o: number, n: number) => String.fromCharCode(...bytes.subarray(o, o + n));
  if (ascii(0, 4) === 'GIF8') return 'GIF';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') return 'WebP';
  if (ascii(0, 2) === 'BM') return 'BMP';
  if (ascii(4, 4) === 'ftyp') return 'an ISO media file (HEIC/AVIF/MP4)';
  return `bytes ${Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ')}`;
}

/** Format and size from the first bytes of a PNG or JPEG, without decoding any pixels. */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  if (bytes.length === 0) throw new ImageDecodeError('empty', 'no bytes');
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) {
    // The first chunk must be IHDR: length 13, type, width and height (u32 big-endian).
    if (bytes.length < 24) throw new ImageDecodeError('corrupt', `PNG of ${bytes.length} bytes ends inside its header`, { bytes: bytes.length });
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') throw new ImageDecodeError('corrupt', 'PNG does not start with an IHDR chunk');
    return { format: 'png', width: dv.getUint32(16), height: dv.getUint32(20) };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return { format: 'jpeg', ...jpegSize(bytes) };
  throw new ImageDecodeError('unsupported format', `not a PNG or JPEG (looks like ${looksLike(bytes)})`, { looksLike: looksLike(bytes) });
}

/** Walk JPEG markers to the first start-of-frame (SOF0..SOF15 but DHT, JPG, DAC) and read its size. */
function jpegSize(bytes: Uint8Array): { width: number; height: number } {
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) throw new ImageDecodeError('corrupt', `JPEG marker expected at byte ${i}, found 0x${bytes[i].toString(16)}`, { at: i });
    const m = bytes[i + 1];
    if (m === 0xff) { i++; continue; } // fill byte
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; } // markers without a length
    if (m === 0xd9 || m === 0xda) break; // end of image / start of scan before any frame header
    const len = (bytes[i + 2] << 8) | bytes[i + 3];
    if (len < 2) throw new ImageDecodeError('corrupt', `JPEG segment 0x${m.toString(16)} at byte ${i} has length ${len}`, { at: i, len });
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (i + 9 > bytes.length) break;
      return { height: (bytes[i + 5] << 8) | bytes[i + 6], width: (bytes[i + 7] << 8) | bytes[i + 8] };
    }
    i += 2 + len;
  }
  throw new ImageDecodeError('corrupt', 'JPEG has no frame header (truncated or not an image)', { bytes: bytes.length });
}

/** Refuse a zero-size image, or one above the pixel budget, before any pixel memory is allocated. */
export function checkImageSize(width: number, height: number, maxPixels = DEFAULT_MAX_PIXELS): void {
  if (!(Number.isInteger(width) && Number.isInteger(height)) || width <= 0 || height <= 0) {
    throw new ImageDecodeError('empty', `image is ${width} x ${height} pixels`, { width, height });
  }
  if (width * height > maxPixels) {
    throw new ImageDecodeError('too large', `image is ${width} x ${height} = ${width * height} pixels, above the budget of ${maxPixels}`, { width, height, maxPixels });
  }
}

function checkRgb(img: RgbImage): void {
  checkImageSize(img.width, img.height, Infinity);
  if (img.channels !== 3 && img.channels !== 4) throw new ImageDecodeError('unsupported format', `${img.channels} channels (RGB or RGBA expected)`, { channels: img.channels });
  const need = img.width * img.height * img.channels;
  if (img.data.length !== need) {
    throw new ImageDecodeError('corrupt', `pixel buffer holds ${img.data.length} bytes, ${img.width} x ${img.height} x ${img.channels} needs ${need}`, { length: img.data.length, need });
  }
}

// ---------------------------------------------------------------- resize and normalize

const f = Math.fround;

/** RGB(A) -> packed RGB u8 of the same size (alpha dropped). */
function toRgb(img: RgbImage): Uint8Array {
  if (img.channels === 3) return Uint8Array.from(img.data);
  const n = img.width * img.height, out = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    out[3 * i] = img.data[4 * i];
    out[3 * i + 1] = img.data[4 * i + 1];
    out[3 * i + 2] = img.data[4 * i + 2];
  }
  return out;
}

/** clip's bilinear resize of packed RGB u8 (float32 arithmetic; results truncated toward zero). */
export function resizeBilinearClip(src: Uint8Array, sw: number, sh: number, tw: number, th: number): Uint8Array {
  const dst = new Uint8Array(3 * tw * th);
  const xRatio = f((sw - 1) / tw), yRatio = f((sh - 1) / th);
  const lerp = (s: number, e: number, t: number) => f(s + f(f(e - s) * t));
  for (let y = 0; y < th; y++) {
    const py = f(yRatio * y), y0 = Math.trunc(py), yl = f(py - y0), y1 = Math.min(y0 + 1, sh - 1);
    for (let x = 0; x < tw; x++) {
      // x0 + 1 stays inside the row for any sw > 1; a one-pixel-wide source reads its only column.
      const px = f(xRatio * x), x0 = Math.trunc(px), xl = f(px - x0), x1 = Math.min(x0 + 1, sw - 1);
      for (let c = 0; c < 3; c++) {
        const top = lerp(src[3 * (y0 * sw + x0) + c], src[3 * (y0 * sw + x1) + c], xl);
        const bottom = lerp(src[3 * (y1 * sw + x0) + c], src[3 * (y1 * sw + x1) + c], xl);
        dst[3 * (y * tw + x) + c] = Math.trunc(lerp(top, bottom, yl));
      }
    }
  }
  return dst;
}

/**
 * clip's bicubic resize of packed RGB u8 (llama.cpp img_tool::resize_bicubic): source step n / target (no
 * half-pixel offset), a 4x4 neighbourhood with edge clamping, the coefficient arithmetic in double stored
 * to float and the polynomial in float, as the C code does; results rounded half away from zero and
 * clamped to [0, 255]. Overshoot at edges is part of the filter (0, 90 -> 0, 45, 90, 96).
 */
export function resizeBicubicClip(src: Uint8Array, sw: number, sh: number, tw: number, th: number): Uint8Array {
  const dst = new Uint8Array(3 * tw * th);
  const tx = f(sw / tw), ty = f(sh / th);
  const clamp = (v: number, hi: number) => Math.max(0, Math.min(v, hi));
  // The cubic through the four samples at offset t, in float.
  const cubic = (p0: number, p1: number, p2: number, p3: number, t: number) => {
    const d0 = f(p0 - p1), d2 = f(p2 - p1), d3 = f(p3 - p1);
    const a1 = f((-1 / 3) * d0 + d2 - (1 / 6) * d3);
    const a2 = f(0.5 * d0 + 0.5 * d2);
    const a3 = f((-1 / 6) * d0 - 0.5 * d2 + (1 / 6) * d3);
    return f(f(f(p1 + f(a1 * t)) + f(f(a2 * t) * t)) + f(f(f(a3 * t) * t) * t));
  };
  const C = [0, 0, 0, 0];
  for (let i = 0; i < th; i++) {
    const sy = f(ty * i), y = Math.trunc(sy), dy = f(sy - y);
    for (let j = 0; j < tw; j++) {
      const sx = f(tx * j), x = Math.trunc(sx), dx = f(sx - x);
      for (let k = 0; k < 3; k++) {
        for (let jj = 0; jj < 4; jj++) {
          const row = clamp(y - 1 + jj, sh - 1) * sw;
          const px = (c: number) => src[(row + clamp(c, sw - 1)) * 3 + k];
          C[jj] = cubic(px(x - 1), px(x), px(x + 1), px(x + 2), dx);
        }
        const v = cubic(C[0], C[1], C[2], C[3], dy);
        dst[(i * tw + j) * 3 + k] = Math.min(Math.max(Math.round(v), 0), 255);
      }
    }
  }
  return dst;
}

/** LLaVA's background colour: the CLIP mean x 255, as llama.cpp pads LLaVA 1.5 images. */
export const LLAVA_PAD_COLOR: readonly [number, number, number] = [122, 116, 104];

/** Fit inside target x target keeping the aspect ratio, bilinear, centred on `pad` (black by default):
 *  clip's resize with padding. */
export function letterboxClip(img: RgbImage, target: number, pad: readonly [number, number, number] = [0, 0, 0]): Uint8Array {
  checkRgb(img);
  const rgb = toRgb(img);
  const { width: sw, height: sh } = img;
  if (sw === target && sh === target) return rgb;
  const scale = Math.min(f(target / sw), f(target / sh));
  const nw = Math.min(Math.ceil(f(sw * scale)), target), nh = Math.min(Math.ceil(f(sh * scale)), target);
  const resized = resizeBilinearClip(rgb, sw, sh, nw, nh);
  const out = new Uint8Array(3 * target * target);
  if (pad[0] || pad[1] || pad[2]) for (let i = 0; i < target * target; i++) out.set(pad, 3 * i);
  const ox = Math.trunc((target - nw) / 2), oy = Math.trunc((target - nh) / 2);
  for (let y = 0; y < nh; y++) out.set(resized.subarray(3 * y * nw, 3 * (y + 1) * nw), 3 * ((y + oy) * target + ox));
  return out;
}

/** Packed RGB u8 -> planar float (v / 255 - mean[c]) / std[c], computed in float32 as clip does. */
export function normalizeRgb(rgb: Uint8Array, width: number, height: number, mean: readonly number[], std: readonly number[]): PixelTensor {
  const n = width * height, data = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const m = f(mean[c]), s = f(std[c]);
    for (let i = 0; i < n; i++) data[c * n + i] = f(f(f(rgb[3 * i + c] / 255) - m) / s);
  }
  return { width, height, data };
}

export interface PreprocessOptions {
  /** Side of the square encoder input (clip.vision.image_size). */
  imageSize: number;
  imageMean: readonly number[];
  imageStd: readonly number[];
}

/** Decoded RGB(A) pixels -> the encoder's input for gemma3-style fixed-size encoders. */
export function preprocessImage(img: RgbImage, o: PreprocessOptions): PixelTensor {
  return normalizeRgb(letterboxClip(img, o.imageSize), o.imageSize, o.imageSize, o.imageMean, o.imageStd);
}

/** Decoded RGB(A) pixels -> LLaVA 1.5's encoder input: letterboxed on LLaVA's background colour. */
export function preprocessLlava(img: RgbImage, o: PreprocessOptions): PixelTensor {
  return normalizeRgb(letterboxClip(img, o.imageSize, LLAVA_PAD_COLOR), o.imageSize, o.imageSize, o.imageMean, o.imageStd);
}

// ---------------------------------------------------------------- idefics3 / SmolVLM splitting

export interface TileGrid {
  /** The refined size the image is resized to before it is cut (multiples of the tile size). */
  width: number;
  height: number;
  cols: number;
  rows: number;
}

/**
 * llama.cpp's idefics3 refined size (img_tool::calc_size_preserved_ratio): scale so that the longer side
 * is `longestEdge` (up or down), then round each side up to a multiple of `tile`, in float as clip does.
 */
export function idefics3Grid(width: number, height: number, tile: number, longestEdge: number): TileGrid {
  checkImageSize(width, height, Infinity);
  const scale = Math.min(f(longestEdge / width), f(longestEdge / height));
  const up = (x: number) => Math.ceil(f(x / tile)) * tile;
  const w = up(f(width * scale)), h = up(f(height * scale));
  return { width: w, height: h, cols: w / tile, rows: h / tile };
}

export interface Idefics3Split {
  grid: TileGrid;
  /** cols x rows tiles, row by row, each packed RGB u8 of tile x tile. */
  tiles: Uint8Array[];
  /** The whole image resized to tile x tile (bilinear, aspect ratio not kept). */
  overview: Uint8Array;
}

/** Resize and cut an image as llama.cpp's clip does for idefics3 (tiles first in reading order, then the overview). */
export function splitIdefics3(img: RgbImage, tile: number, longestEdge: number): Idefics3Split {
  checkRgb(img);
  const rgb = toRgb(img);
  const { width: sw, height: sh } = img;
  const grid = idefics3Grid(sw, sh, tile, longestEdge);
  const resize = (tw: number, th: number, filter: typeof resizeBilinearClip) => (tw === sw && th === sh ? rgb : filter(rgb, sw, sh, tw, th));
  const refined = resize(grid.width, grid.height, resizeBicubicClip);
  const tiles: Uint8Array[] = [];
  for (let r = 0; r < grid.rows; r++) {
    for (let c = 0; c < grid.cols; c++) {
      const t = new Uint8Array(3 * tile * tile);
      for (let y = 0; y < tile; y++) {
        const from = 3 * ((r * tile + y) * grid.width + c * tile);
        t.set(refined.subarray(from, from + 3 * tile), 3 * y * tile);
      }
      tiles.push(t);
    }
  }
  return { grid, tiles, overview: resize(tile, tile, resizeBilinearClip) };
}
