// Images and video clips the user attaches (button, drag and drop, paste): decoded in the page, images
// downscaled to at most 1024 px on the long side (every supported vision encoder works below that) so they
// can be kept in the saved conversation, and a small thumbnail for the composer and the message.

import type { StoredAttachment } from './chat-store.ts';

export interface PendingAttachment extends StoredAttachment {
  /** The original file, for video (sent as video_url). */
  blob?: Blob;
}

/** A file the page will not take, with the reason shown to the user. */
export class AttachmentError extends Error {
  override name = 'AttachmentError';
  constructor(readonly file: string, reason: string) {
    super(`${file}: ${reason}`);
  }
}

const MAX_IMAGE_FILE = 40e6;
const MAX_VIDEO_FILE = 200e6;
const MAX_SIDE = 1024;
const THUMB_SIDE = 160;

function canvasDataUrl(source: CanvasImageSource, w: number, h: number, maxSide: number, type: string, quality?: number): string {
  const scale = Math.min(1, maxSide / Math.max(w, h));
  const cw = Math.max(1, Math.round(w * scale));
  const ch = Math.max(1, Math.round(h * scale));
  const canvas = document.createElement('canvas');
  canvas.width = cw;
  canvas.height = ch;
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(source, 0, 0, cw, ch);
  return canvas.toDataURL(type, quality);
}

async function readImage(file: File): Promise<PendingAttachment> {
  if (file.size > MAX_IMAGE_FILE) throw new AttachmentError(file.name, `the image is ${(file.size / 1e6).toFixed(0)} MB; the limit is ${MAX_IMAGE_FILE / 1e6} MB`);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new AttachmentError(file.name, 'the browser could not decode this image');
  }
  try {
    const { width: w, height: h } = bitmap;
    if (w < 1 || h < 1) throw new AttachmentError(file.name, 'the image is empty');
    if (Math.max(w / h, h / w) > 50) throw new AttachmentError(file.name, `an aspect ratio of ${w}x${h} is too extreme to read`);
    const png = file.type === 'image/png' || file.type === 'image/gif';
    return {
      kind: 'image',
      name: file.name || 'pasted image',
      dataUrl: canvasDataUrl(bitmap, w, h, MAX_SIDE, png ? 'image/png' : 'image/jpeg', 0.9),
      thumbUrl: canvasDataUrl(bitmap, w, h, THUMB_SIDE, 'image/jpeg', 0.8),
    };
  } finally {
    bitmap.close();
  }
}

async function readVideo(file: File): Promise<PendingAttachment> {
  if (file.size > MAX_VIDEO_FILE) throw new AttachmentError(file.name, `the clip is ${(file.size / 1e6).toFixed(0)} MB; the limit is ${MAX_VIDEO_FILE / 1e6} MB`);
  const url = URL.createObjectURL(file);
  try {
    const video = document.createElement('video');
    video.muted = true;
    video.preload = 'auto';
    video.src = url;
    await new Promise<void>((resolve, reject) => {
      video.onloadeddata = () => resolve();
      video.onerror = () => reject(new AttachmentError(file.name, 'the browser could not decode this video'));
    });
    if (!video.videoWidth || !video.videoHeight) throw new AttachmentError(file.name, 'the video has no picture');
    return {
      kind: 'video',
      name: file.name || 'video',
      dataUrl: null,
      thumbUrl: canvasDataUrl(video, video.videoWidth, video.videoHeight, THUMB_SIDE, 'image/jpeg', 0.8),
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
