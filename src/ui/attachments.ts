// Images and video clips the user attaches (button, drag and drop, paste): checked against size and pixel
// limits before they are decoded, decoded once in the page to refuse what the browser cannot read, and
// given a small thumbnail for the composer and the message. What the model is shown:
// - a PNG or JPEG no larger than 1024 px on its long side: the file's own bytes, unchanged (the engine
//   decodes them exactly as the Node path does);
// - any other image: drawn at most 1024 px on the long side (every supported vision encoder works below
//   that) and encoded as PNG (PNG and GIF sources) or JPEG;
// - a clip: the file itself, with its first frame as the poster and its length.

import type { StoredAttachment } from './chat-store.ts';

export interface PendingAttachment extends StoredAttachment {
  /** What the model is shown: the image (see above) or the clip. */
  blob: Blob;
}

/** A file the page will not take, with the reason shown to the user. */
export class AttachmentError extends Error {
  override name = 'AttachmentError';
  constructor(readonly file: string, reason: string) {
    super(`${file}: ${reason}`);
  }
}

export const MAX_IMAGE_FILE = 40e6;
export const MAX_VIDEO_FILE = 200e6;
/** The engine's own decode budget (src/vision/image-node.ts) is 50 MP; a larger image is refused here. */
export const MAX_IMAGE_PIXELS = 50e6;
const MAX_SIDE = 1024;
const THUMB_SIDE = 160;

// ---------------------------------------------------------------- pixel size from the header

const u16be = (b: Uint8Array, i: number) => (b[i] << 8) | b[i + 1];
const u16le = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8);
const u24le = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const u32be = (b: Uint8Array, i: number) => ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
const ascii = (b: Uint8Array, i: number, n: number) => String.fromCharCode(...b.subarray(i, i + n));

/**
 * Width and height as the file's header states them (PNG, JPEG, GIF, WebP), read before anything is
 * decoded so a decompression bomb is refused without being inflated; null for other formats or a header
 * that does not say.
 */
export function headerSize(b: Uint8Array): { width: number; height: number } | null {
  if (b.length >= 24 && b[0] === 0x89 && ascii(b, 1, 3) === 'PNG' && ascii(b, 12, 4) === 'IHDR') {
    return { width: u32be(b, 16), height: u32be(b, 20) };
  }
  if (b.length >= 10 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) {
    return { width: u16le(b, 6), height: u16le(b, 8) };
  }
  if (b.length >= 30 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') {
    const chunk = ascii(b, 12, 4);
    if (chunk === 'VP8X') return { width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 };
    if (chunk === 'VP8L' && b[20] === 0x2f) {
      const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
      return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    if (chunk === 'VP8 ' && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a) {
      return { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
    }
    return null;
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    // JPEG: walk the marker segments to the first start-of-frame (C0-CF but C4, C8, CC).
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) return null;
      const m = b[i + 1];
      if (m === 0xff) { i++; continue; }
      if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; }
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        return { width: u16be(b, i + 7), height: u16be(b, i + 5) };
      }
      i += 2 + u16be(b, i + 2);
    }
  }
  return null;
}

// ---------------------------------------------------------------- images

function drawScaled(source: CanvasImageSource, w: number, h: number, maxSide: number): HTMLCanvasElement {
  const scale = Math.min(1, maxSide / Math.max(w, h));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(w * scale));
  canvas.height = Math.max(1, Math.round(h * scale));
  canvas.getContext('2d')!.drawImage(source, 0, 0, canvas.width, canvas.height);
  return canvas;
}

const thumbnail = (source: CanvasImageSource, w: number, h: number) => drawScaled(source, w, h, THUMB_SIDE).toDataURL('image/jpeg', 0.8);

function canvasBlob(canvas: HTMLCanvasElement, type: string, quality?: number): Promise<Blob> {
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the canvas could not be encoded'))), type, quality));
}

async function readImage(file: File): Promise<PendingAttachment> {
  const name = file.name || 'pasted image';
  const mb = (n: number) => `${(n / 1e6).toFixed(n < 10e6 ? 1 : 0)} MB`;
  if (file.size === 0) throw new AttachmentError(name, 'the file is empty');
  if (file.size > MAX_IMAGE_FILE) throw new AttachmentError(name, `the image is ${mb(file.size)}; the limit is ${mb(MAX_IMAGE_FILE)}`);
  // JPEG metadata (EXIF, ICC) can put the frame header far in; 256 kB covers what cameras write.
  const stated = headerSize(new Uint8Array(await file.slice(0, 256 * 1024).arrayBuffer()));
  const tooMany = (w: number, h: number) => new AttachmentError(name, `the image is ${w}x${h} pixels (${(w * h / 1e6).toFixed(0)} MP); the limit is ${MAX_IMAGE_PIXELS / 1e6} MP`);
  if (stated && stated.width * stated.height > MAX_IMAGE_PIXELS) throw tooMany(stated.width, stated.height);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new AttachmentError(name, 'the browser could not decode this image (is the file damaged, or not really an image?)');
  }
  try {
    const { width: w, height: h } = bitmap;
    if (w < 1 || h < 1) throw new AttachmentError(name, 'the image is empty');
    if (w * h > MAX_IMAGE_PIXELS) throw tooMany(w, h);
    if (Math.max(w / h, h / w) > 50) throw new AttachmentError(name, `an aspect ratio of ${w}x${h} is too extreme to read`);
    const asIs = (file.type === 'image/png' || file.type === 'image/jpeg') && Math.max(w, h) <= MAX_SIDE;
    let blob: Blob = file;
    if (!asIs) {
      const png = file.type === 'image/png' || file.type === 'image/gif';
      blob = await canvasBlob(drawScaled(bitmap, w, h, MAX_SIDE), png ? 'image/png' : 'image/jpeg', 0.92);
    }
    return { kind: 'image', name, thumbUrl: thumbnail(bitmap, w, h), width: w, height: h, blob };
  } finally {
    bitmap.close();
  }
}

// ---------------------------------------------------------------- video

function once(target: EventTarget, ok: string, fail: string | null, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      clearTimeout(timer);
      target.removeEventListener(ok, onOk);
      if (fail) target.removeEventListener(fail, onFail);
      resolve(v);
    };
    const onOk = () => done(true);
    const onFail = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    target.addEventListener(ok, onOk);
    if (fail) target.addEventListener(fail, onFail);
  });
}

async function readVideo(file: File): Promise<PendingAttachment> {
  const name = file.name || 'video';
  if (file.size > MAX_VIDEO_FILE) throw new AttachmentError(name, `the clip is ${(file.size / 1e6).toFixed(0)} MB; the limit is ${MAX_VIDEO_FILE / 1e6} MB`);
  const url = URL.createObjectURL(file);
  try {
    const video = document.createElement('video');
    video.muted = true;
    video.preload = 'auto';
    const loaded = once(video, 'loadeddata', 'error', 30_000);
    video.src = url;
    if (!(await loaded)) throw new AttachmentError(name, 'the browser could not decode this video (is the file damaged, or in a format it cannot play?)');
    if (!video.videoWidth || !video.videoHeight) throw new AttachmentError(name, 'the video has no picture');
    const thumbUrl = thumbnail(video, video.videoWidth, video.videoHeight);
    let duration = video.duration;
    if (!Number.isFinite(duration)) {
      // Recorded WebM (MediaRecorder) states no length; seeking past the end makes the browser find it.
      const seeked = once(video, 'durationchange', null, 3000);
      video.currentTime = 1e7;
      await seeked;
      duration = video.duration;
    }
    return {
      kind: 'video', name, thumbUrl, width: video.videoWidth, height: video.videoHeight,
      ...(Number.isFinite(duration) && duration > 0 ? { durationS: duration } : {}),
      blob: file,
    };
  } finally {
    URL.revokeObjectURL(url);
  }
}

export async function readAttachment(file: File): Promise<PendingAttachment> {
  if (file.type.startsWith('image/')) return readImage(file);
  if (file.type.startsWith('video/')) return readVideo(file);
  throw new AttachmentError(file.name || 'file', `${file.type || 'this kind of file'} is not an image or a video`);
}

/** Files in a drop or paste (DataTransfer), images and videos only. */
export function mediaFiles(dt: DataTransfer | null): File[] {
  if (!dt) return [];
  return [...dt.files].filter((f) => f.type.startsWith('image/') || f.type.startsWith('video/'));
}

/** A clip's length as the thumbnail shows it: 0:07, 12:30. */
export function formatClipLength(s: number): string {
  const t = Math.max(0, Math.round(s));
  return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, '0')}`;
}

/** A data: URL's bytes (conversations saved before the media store kept images inline). */
export function dataUrlBlob(url: string): Blob | null {
  const m = /^data:([^;,]*)(;base64)?,(.*)$/s.exec(url);
  if (!m || !m[2]) return null;
  try {
    const bin = atob(m[3]);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Blob([bytes], { type: m[1] || 'application/octet-stream' });
  } catch {
    return null;
  }
}
