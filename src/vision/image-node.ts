// PNG and JPEG decoding in Node, through pngjs and jpeg-js (pure JavaScript; pngjs needs Node's zlib, so
// this file stays out of browser bundles, where createImageBitmap decodes). The header is read first and
// the pixel budget enforced before the decoder allocates anything, so a small file claiming a huge image
// (a decompression bomb) costs nothing; every decoder failure becomes an ImageDecodeError.

import { readFile, stat } from 'node:fs/promises';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { checkImageSize, DEFAULT_MAX_PIXELS, ImageDecodeError, readImageHeader, type RgbImage } from './image.ts';

export interface DecodeOptions {
  /** Refuse images with more pixels than this (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
}

/** Largest encoded file read at all: far above any photo, far below what would hurt. */
const MAX_FILE_BYTES = 256 << 20;

export function decodeImage(bytes: Uint8Array, opts: DecodeOptions = {}): RgbImage {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const header = readImageHeader(bytes);
  checkImageSize(header.width, header.height, maxPixels);
  let img: RgbImage;
  try {
    if (header.format === 'png') {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      img = { width: png.width, height: png.height, channels: 4, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    } else {
      const j = jpeg.decode(bytes, {
        useTArray: true, formatAsRGBA: false, tolerantDecoding: false,
        maxResolutionInMP: maxPixels / 1e6, maxMemoryUsageInMB: Math.ceil((maxPixels * 4) / (1 << 20)) + 64,
      });
      img = { width: j.width, height: j.height, channels: 3, data: j.data };
    }
  } catch (e) {
    throw new ImageDecodeError('corrupt', `${header.format.toUpperCase()} ${header.width} x ${header.height} could not be decoded: ${(e as Error).message}`, { format: header.format }, e);
  }
  // The decoder's own idea of the size must be the header's, and what the budget allowed.
  if (img.width !== header.width || img.height !== header.height || img.data.length !== img.width * img.height * img.channels) {
    throw new ImageDecodeError('corrupt', `${header.format.toUpperCase()} header says ${header.width} x ${header.height}, decoded ${img.width} x ${img.height} with ${img.data.length} bytes`, { header, width: img.width, height: img.height });
  }
  return img;
}

/** Read and decode a PNG or JPEG file. */
export async function loadImageFile(path: string, opts: DecodeOptions = {}): Promise<RgbImage> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    throw new ImageDecodeError('corrupt', `cannot read ${path}: ${(e as Error).message}`, { path }, e);
  }
  if (size > MAX_FILE_BYTES) throw new ImageDecodeError('too large', `${path} is ${size} bytes (limit ${MAX_FILE_BYTES})`, { path, size });
  return decodeImage(new Uint8Array(await readFile(path)), opts);
}
