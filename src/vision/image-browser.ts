// Image decoding in a page or worker: the header is read first and the pixel budget enforced before the
// browser decodes anything (createImageBitmap), then the bitmap is drawn on an OffscreenCanvas and read
// back as RGBA. No colour-space conversion and no premultiplication are asked for, so an opaque PNG gives
// the same bytes as pngjs in Node; translucent pixels may differ by rounding (a 2D canvas stores
// premultiplied alpha), and JPEG decoders may differ by a step here and there.

import { checkImageSize, DEFAULT_MAX_PIXELS, ImageDecodeError, readImageHeader, type RgbImage } from './image.ts';

export async function decodeImageInBrowser(bytes: Uint8Array, opts: { maxPixels?: number } = {}): Promise<RgbImage> {
  const header = readImageHeader(bytes);
  checkImageSize(header.width, header.height, opts.maxPixels ?? DEFAULT_MAX_PIXELS);
  const g = globalThis as { createImageBitmap?: typeof createImageBitmap; OffscreenCanvas?: typeof OffscreenCanvas };
  if (!g.createImageBitmap || !g.OffscreenCanvas) {
    throw new ImageDecodeError('unsupported format', 'this context has no createImageBitmap / OffscreenCanvas to decode images with', { format: header.format });
  }
  let bitmap: ImageBitmap;
  try {
    const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: header.format === 'png' ? 'image/png' : 'image/jpeg' });
    bitmap = await g.createImageBitmap(blob, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  } catch (e) {
    throw new ImageDecodeError('corrupt', `${header.format.toUpperCase()} ${header.width} x ${header.height} could not be decoded: ${(e as Error).message}`, { format: header.format }, e);
  }
  try {
    const { width, height } = bitmap;
    // A JPEG's EXIF orientation may swap the sides; anything else means the header lied.
    const same = width === header.width && height === header.height;
    const swapped = header.format === 'jpeg' && width === header.height && height === header.width;
    if (!same && !swapped) {
      throw new ImageDecodeError('corrupt', `${header.format.toUpperCase()} header says ${header.width} x ${header.height}, decoded ${width} x ${height}`, { header, width, height });
    }
    const canvas = new g.OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true }) as OffscreenCanvasRenderingContext2D | null;
    if (!ctx) throw new ImageDecodeError('unsupported format', 'no 2D context on an OffscreenCanvas here', {});
    ctx.drawImage(bitmap, 0, 0);
    const data = ctx.getImageData(0, 0, width, height).data;
    return { width, height, channels: 4, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } finally {
    bitmap.close();
  }
}
