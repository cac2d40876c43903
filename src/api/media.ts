// Image parts of a chat request, from what the caller sent to pixels the vision family can take: the
// bytes (a data: URL, an http(s) URL, a blob: URL or a Blob), the header checked against the pixel budget
// before anything is decoded, decoded (pngjs / jpeg-js in Node, createImageBitmap + OffscreenCanvas in a
// page or worker), hashed (the prefix cache keys image positions by the pixels' hash), and sized in
// prompt positions by the family. Every failure is an invalid_request_error naming the part,
// `messages[i].content[j]`. This runs before the request is queued; the encoder runs in the queue.

import { decodeImageInBrowser } from '../vision/image-browser.ts';
import { DEFAULT_MAX_PIXELS, ImageDecodeError, type RgbImage } from '../vision/image.ts';
import type { VisionFamily } from '../vision/family.ts';
import { invalidRequest } from './errors.ts';
import type { ChatMessage, ContentPart } from './types.ts';

/** Largest encoded image read at all (a 50 MP photo is far below it). */
export const MAX_IMAGE_BYTES = 64 << 20;

export interface ResolvedImage {
  /** `messages[i].content[j]`. */
  where: string;
  image: RgbImage;
  /** Hash of the size and pixels: equal keys, equal pictures. */
  key: string;
  /** Prompt positions the family gives it. */
  positions: number;
}

function isNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
}

// Kept out of browser bundles' static graph (pngjs needs node:zlib); see node-platform.ts.
const nodePlatform = () => import('./node-platform.ts');

function shortUrl(url: string): string {
  return url.length > 64 ? `${url.slice(0, 60)}...` : url;
}

async function readLimited(res: Response, where: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > MAX_IMAGE_BYTES) throw tooManyBytes(where, declared);
  const buf = new Uint8Array(await res.arrayBuffer());
  if (buf.length > MAX_IMAGE_BYTES) throw tooManyBytes(where, buf.length);
  return buf;
}

function tooManyBytes(where: string, bytes: number) {
  return invalidRequest(`${where}: the image is ${bytes} bytes, above the limit of ${MAX_IMAGE_BYTES}`, where, 'invalid_image', { problem: 'too large', bytes, limit: MAX_IMAGE_BYTES });
}

/** The encoded bytes of an image_url part. */
async function imageBytes(url: string | Blob, where: string, signal?: AbortSignal): Promise<Uint8Array> {
  if (typeof Blob !== 'undefined' && url instanceof Blob) {
    if (url.size > MAX_IMAGE_BYTES) throw tooManyBytes(where, url.size);
    return new Uint8Array(await url.arrayBuffer());
  }
  const s = url as string;
  if (!/^(data|blob|https?):/i.test(s)) {
    throw invalidRequest(`${where}.image_url.url must be a data:, blob: or http(s) URL (or a Blob), got '${shortUrl(s)}'`, `${where}.image_url.url`, 'invalid_value');
  }
  let res: Response;
  try {
    res = await fetch(s, { signal });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw invalidRequest(`${where}: cannot fetch the image at '${shortUrl(s)}': ${(e as Error).message}`, where, 'image_fetch_failed', { url: shortUrl(s) });
  }
  if (!res.ok) {
    throw invalidRequest(`${where}: fetching the image at '${shortUrl(s)}' answered ${res.status} ${res.statusText}`.trim(), where, 'image_fetch_failed', { url: shortUrl(s), status: res.status });
  }
  return readLimited(res, where);
}

/** Decoded pixels (header and pixel budget checked first), on whichever platform this is. */
export async function decodeImageBytes(bytes: Uint8Array, maxPixels = DEFAULT_MAX_PIXELS): Promise<RgbImage> {
  if (isNode()) return (await nodePlatform()).decodeImage(bytes, { maxPixels });
  return decodeImageInBrowser(bytes, { maxPixels });
}

/** 64-bit hash (two 32-bit multiply-xorshift lanes) of an image's size, channels and pixels, as hex. */
export function pixelKey(img: RgbImage): string {
  let a = 0x9e3779b9 ^ img.width, b = 0x85ebca6b ^ img.height;
  a = Math.imul(a ^ img.channels, 0x01000193);
  const d = img.data;
  for (let i = 0; i < d.length; i++) {
    a = Math.imul(a ^ d[i], 0x01000193);
    b = Math.imul(b ^ d[i], 0x5bd1e995);
    b ^= b >>> 15;
  }
  a ^= a >>> 16; a = Math.imul(a, 0x85ebca6b); a ^= a >>> 13;
  b ^= b >>> 16; b = Math.imul(b, 0xc2b2ae35); b ^= b >>> 16;
  return `img:${(a >>> 0).toString(16).padStart(8, '0')}${(b >>> 0).toString(16).padStart(8, '0')}:${img.width}x${img.height}`;
}

/**
 * Every image part of `messages`, fetched, decoded and sized, in message order; a Map from the part
 * object to its image. Video parts are left to the engine (src/vision/video/media-video.ts, planVideo).
 */
export async function resolveImages(messages: readonly ChatMessage[], family: VisionFamily, signal?: AbortSignal): Promise<Map<ContentPart, ResolvedImage>> {
  const out = new Map<ContentPart, ResolvedImage>();
  for (let i = 0; i < messages.length; i++) {
    const c = messages[i].content;
    if (!Array.isArray(c)) continue;
    for (let j = 0; j < c.length; j++) {
      const part = c[j] as ContentPart;
      const where = `messages[${i}].content[${j}]`;
      if (part.type !== 'image_url') continue;
      const bytes = await imageBytes(part.image_url.url, where, signal);
      let image: RgbImage;
      try {
        image = await decodeImageBytes(bytes);
      } catch (e) {
        if (e instanceof ImageDecodeError) {
          throw invalidRequest(`${where}: ${e.message}`, where, 'invalid_image', { ...e.details });
        }
        throw e;
      }
      let positions: number;
      try {
        positions = family.imagePositions(image.width, image.height);
      } catch (e) {
        throw invalidRequest(`${where}: ${(e as Error).message}`, where, 'invalid_image', { width: image.width, height: image.height });
      }
      out.set(part, { where, image, key: pixelKey(image), positions });
    }
  }
  return out;
}
