// Image preprocessing for yasa2 (Reka Edge), in plain TypeScript: how many tiles an image gets, which
// grid, the resizes, the tile order and the normalization, as Reka's own processor does them (the
// vLLM plugin's YasaMMLMV2ImageProcessor: the "anyres UHD" tiler, then transformers'
// ConvNextImageProcessor on every tile). llama.cpp's yasa2 port only ever makes one tile (the whole
// image squashed to image_size²), so for tiling Reka's reference is the only one there is.
//
// For an image W x H and tiles of S x S (S = clip.vision.image_size, 512; p = clip.vision.patch_size, 4):
//   n = min(ceil(W H / S²), maxTiles)           maxTiles is 4 for Reka Edge
//   n <= 1: one tile. Resized (PIL bicubic) to the aspect-preserving size of about S² pixels
//           (h' = floor(S / sqrt(W / H)), w' = floor(h' W / H), each rounded to a multiple of p), then
//           squashed to S x S (PIL bilinear, ConvNextImageProcessor's resize for sizes >= 384).
//   n >= 2: grid (cols, rows) among the factor pairs of n, and of n + 1 when n < maxTiles, whose
//           log(cols / rows) is nearest log(W / H) (the first in cols order on a tie). Each cell's
//           size (W // cols, H // rows, rounded to p) gets the same aspect-preserving S² fit; the
//           image is resized (bicubic) to cols x rows such cells and cut row-major. Tiles: the whole
//           original image first, then the cells, each squashed to S x S (bilinear).
// Every tile then becomes (v / 255 - mean) / std, planar RGB float32, with ImageNet's mean and std
// (the GGUF's clip.vision.image_mean / image_std when it has them).
//
// The resampling is Pillow's (Resample.c): separable, horizontal pass then vertical, each tap set
// centred at (i + 0.5) * scale and widened by the scale when shrinking (antialiasing), weights in
// 22-bit fixed point, results rounded and clipped to u8 after each pass; a size that does not change
// is not filtered at all. Checked bit for bit against Pillow by src/vision/yasa2/preprocess.test.ts.

import { ImageDecodeError, type RgbImage } from '../image.ts';

export interface Yasa2PreprocessConfig {
  /** Side of a tile (512). */
  imageSize: number;
  /** Tile sides are multiples of this before the final squash (the stem's patch, 4). */
  patchSize: number;
  /** Most tiles an image is cut into, not counting the whole-image tile (4 for Reka Edge). */
  maxTiles: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** ImageNet's mean and std, as Reka's processors use them. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** Reka Edge: 512 tiles, at most 4 of them plus the whole image. */
export const REKA_EDGE_PREPROCESS: Yasa2PreprocessConfig = {
  imageSize: 512, patchSize: 4, maxTiles: 4, mean: IMAGENET_MEAN, std: IMAGENET_STD,
};

export interface Yasa2TilePlan {
  /** Tiles the image is cut into before the whole-image tile is added (1: no cutting). */
  cuts: number;
  /** The grid, cols x rows; null for a single tile. */
  grid: { cols: number; rows: number } | null;
  /** What the image is resized to (bicubic) before cutting, or before the single tile's squash. */
  resized: { width: number; height: number };
  /** Tiles in prompt order (the whole image first when cut, then the cells row-major). */
  tiles: number;
}

// ---------------------------------------------------------------- the plan

/** Python's round() (half to even) of a / b for non-negative integers. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** `length` rounded to the nearest multiple of `p` (half to even, as Python rounds), at least p. */
export function roundToMultiple(length: number, p: number): number {
  return Math.max(roundHalfEven(length / p) * p, p);
}

/** The aspect-preserving size of about side² pixels, sides multiples of p (upscaling allowed). */
export function fitArea(width: number, height: number, side: number, p: number): { width: number; height: number } {
  const aspect = width / height;
  const h = Math.trunc(side / Math.sqrt(aspect));
  const w = Math.trunc(h * aspect);
  return { width: roundToMultiple(w, p), height: roundToMultiple(h, p) };
}

/** Tiles an image is cut into: ceil(area / side²), at most maxTiles. */
export function yasa2CutCount(width: number, height: number, cfg: Pick<Yasa2PreprocessConfig, 'imageSize' | 'maxTiles'>): number {
  return Math.min(Math.ceil((width * height) / (cfg.imageSize * cfg.imageSize)), cfg.maxTiles);
}

function factorGrids(n: number): { cols: number; rows: number }[] {
  const out: { cols: number; rows: number }[] = [];
  for (let c = 1; c <= n; c++) if (n % c === 0) out.push({ cols: c, rows: n / c });
  return out;
}

/** Where an image goes: the number of cuts, the grid, the resize and the tile count. */
export function yasa2TilePlan(width: number, height: number, cfg: Yasa2PreprocessConfig): Yasa2TilePlan {
  checkSize(width, height);
  const cuts = yasa2CutCount(width, height, cfg);
  if (cuts <= 1) return { cuts: 1, grid: null, resized: fitArea(width, height, cfg.imageSize, cfg.patchSize), tiles: 1 };
  const candidates = factorGrids(cuts);
  if (cuts < cfg.maxTiles) candidates.push(...factorGrids(cuts + 1));
  const logAspect = Math.log(width / height);
  let grid = candidates[0];
  let best = Infinity;
  for (const g of candidates) {
    const err = Math.abs(logAspect - Math.log(g.cols / g.rows));
    if (err < best) { best = err; grid = g; }
  }
  const cellW = roundToMultiple(Math.floor(width / grid.cols), cfg.patchSize);
  const cellH = roundToMultiple(Math.floor(height / grid.rows), cfg.patchSize);
  const cell = fitArea(cellW, cellH, cfg.imageSize, cfg.patchSize);
  return {
    cuts: grid.cols * grid.rows, grid,
    resized: { width: cell.width * grid.cols, height: cell.height * grid.rows },
    tiles: grid.cols * grid.rows + 1,
  };
}

function checkSize(width: number, height: number): void {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new ImageDecodeError('empty', `yasa2 needs an image of positive integer size, got ${width} x ${height}`, { width, height });
  }
}

// ---------------------------------------------------------------- Pillow's resampling

export type ResampleFilter = 'bilinear' | 'bicubic';

const FILTERS: Record<ResampleFilter, { support: number; f: (x: number) => number }> = {
  bilinear: { support: 1, f: (x) => { x = Math.abs(x); return x < 1 ? 1 - x : 0; } },
  bicubic: {
    support: 2,
    f: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

const PRECISION_BITS = 32 - 8 - 2;

/** Per output index: first input index, tap count, fixed-point weights. */
function coefficients(inSize: number, outSize: number, filter: ResampleFilter): { start: Int32Array; count: Int32Array; k: Int32Array; taps: number } {
  const { support: base, f } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = base * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize), count = new Int32Array(outSize), k = new Int32Array(outSize * taps);
  const w = new Float64Array(taps);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const ss = 1 / filterScale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = f((x + xmin - center + 0.5) * ss);
      sum += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = sum !== 0 ? w[x] / sum : w[x];
      k[o * taps + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    start[o] = xmin;
    count[o] = xmax;
  }
  return { start, count, k, taps };
}

function clip8(v: number): number {
  if (v >= 1 << (PRECISION_BITS + 8)) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / (1 << PRECISION_BITS));
}

/** The image's RGB bytes (alpha dropped, as the rest of the vision path does). */
export function toRgb(img: RgbImage): RgbImage {
  checkSize(img.width, img.height);
  const n = img.width * img.height;
  if (img.data.length < n * img.channels) throw new ImageDecodeError('corrupt', `pixel buffer of ${img.data.length} bytes for ${img.width} x ${img.height} x ${img.channels}`, { bytes: img.data.length });
  if (img.channels === 3) return { width: img.width, height: img.height, channels: 3, data: Uint8Array.from(img.data.subarray(0, n * 3)) };
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    out[i * 3] = img.data[i * 4];
    out[i * 3 + 1] = img.data[i * 4 + 1];
    out[i * 3 + 2] = img.data[i * 4 + 2];
  }
  return { width: img.width, height: img.height, channels: 3, data: out };
}

/** Pillow's Image.resize(size, filter) of an RGB image (same size: a copy, as Pillow returns). */
export function pilResize(img: RgbImage, width: number, height: number, filter: ResampleFilter): RgbImage {
  checkSize(width, height);
  let src = toRgb(img);
  if (src.width !== width) {
    const { start, count, k, taps } = coefficients(src.width, width, filter);
    const out = new Uint8Array(width * src.height * 3);
    for (let y = 0; y < src.height; y++) {
      const row = y * src.width * 3;
      for (let x = 0; x < width; x++) {
        const s = start[x], c = count[x], kk = x * taps;
        for (let ch = 0; ch < 3; ch++) {
          let acc = 1 << (PRECISION_BITS - 1);
          for (let t = 0; t < c; t++) acc += src.data[row + (s + t) * 3 + ch] * k[kk + t];
          out[(y * width + x) * 3 + ch] = clip8(acc);
        }
      }
    }
    src = { width, height: src.height, channels: 3, data: out };
  }
  if (src.height !== height) {
    const { start, count, k, taps } = coefficients(src.height, height, filter);
    const out = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      const s = start[y], c = count[y], kk = y * taps;
      for (let x = 0; x < width; x++) {
        for (let ch = 0; ch < 3; ch++) {
          let acc = 1 << (PRECISION_BITS - 1);
          for (let t = 0; t < c; t++) acc += src.data[((s + t) * width + x) * 3 + ch] * k[kk + t];
          out[(y * width + x) * 3 + ch] = clip8(acc);
        }
      }
    }
    src = { width, height, channels: 3, data: out };
  }
  return src;
}

/** A width x height window of an RGB image, top-left at (x0, y0) (Pillow's crop inside the image). */
export function crop(img: RgbImage, x0: number, y0: number, width: number, height: number): RgbImage {
  const src = toRgb(img);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((y0 + y) * src.width + x0) * 3;
    out.set(src.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { width, height, channels: 3, data: out };
}

// ---------------------------------------------------------------- tiles

/** An image's tiles as S x S RGB bytes, in prompt order (see the top of this file). */
export function yasa2Tiles(img: RgbImage, cfg: Yasa2PreprocessConfig): RgbImage[] {
  const rgb = toRgb(img);
  const S = cfg.imageSize;
  const plan = yasa2TilePlan(rgb.width, rgb.height, cfg);
  const squash = (t: RgbImage) => pilResize(t, S, S, 'bilinear');
  if (!plan.grid) return [squash(pilResize(rgb, plan.resized.width, plan.resized.height, 'bicubic'))];
  const resized = pilResize(rgb, plan.resized.width, plan.resized.height, 'bicubic');
  const cw = plan.resized.width / plan.grid.cols, chh = plan.resized.height / plan.grid.rows;
  const tiles = [squash(rgb)];
  for (let r = 0; r < plan.grid.rows; r++) {
    for (let c = 0; c < plan.grid.cols; c++) tiles.push(squash(crop(resized, c * cw, r * chh, cw, chh)));
  }
  return tiles;
}

/** A video frame's one tile: squashed to S x S (bilinear), no tiling, as Reka's video processor does. */
export function yasa2FrameTile(img: RgbImage, cfg: Pick<Yasa2PreprocessConfig, 'imageSize'>): RgbImage {
  return pilResize(img, cfg.imageSize, cfg.imageSize, 'bilinear');
}

/**
 * S x S RGB bytes -> planar float32 [3, S, S]: v * (1/255) in double rounded to float32, then
 * (v - mean) / std in float32, the order and precision of transformers' rescale and normalize.
 */
export function yasa2Normalize(tile: RgbImage, cfg: Pick<Yasa2PreprocessConfig, 'mean' | 'std'>): Float32Array {
  const rgb = toRgb(tile);
  const n = rgb.width * rgb.height;
  const out = new Float32Array(3 * n);
  const f = Math.fround;
  for (let ch = 0; ch < 3; ch++) {
    const m = f(cfg.mean[ch]), s = f(cfg.std[ch]);
    for (let i = 0; i < n; i++) out[ch * n + i] = f(f(f(rgb.data[i * 3 + ch] * (1 / 255)) - m) / s);
  }
  return out;
}
