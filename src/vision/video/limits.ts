// Limits a clip must meet before a single frame is decoded, checked from what the container says (byte
// size, duration, coded size): an oversized clip costs a header read, not a decode.

import { VideoDecodeError } from './sample.ts';

export interface VideoLimits {
  /** Largest file accepted, in bytes (default 256 MiB). */
  maxBytes?: number;
  /** Longest clip accepted, in milliseconds (default 10 minutes). */
  maxDurationMs?: number;
  /** Largest frame accepted, width x height (default 3840 x 2160). */
  maxPixels?: number;
}

export const DEFAULT_VIDEO_LIMITS: Required<VideoLimits> = {
  maxBytes: 256 * 1024 * 1024,
  maxDurationMs: 10 * 60 * 1000,
  maxPixels: 3840 * 2160,
};

export function videoLimits(l: VideoLimits = {}): Required<VideoLimits> {
  return { ...DEFAULT_VIDEO_LIMITS, ...Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)) };
}

export function checkVideoBytes(bytes: number, l: Required<VideoLimits>): void {
  if (bytes === 0) throw new VideoDecodeError('no frames', 'the file is empty', { bytes });
  if (bytes > l.maxBytes) throw new VideoDecodeError('too large', `the file is ${bytes} bytes, above the limit of ${l.maxBytes}`, { bytes, maxBytes: l.maxBytes });
}

/** What the container says about the video track, checked against the limits. */
export function checkVideoMetadata(m: { durationMs: number; width: number; height: number }, l: Required<VideoLimits>): void {
  const { durationMs, width, height } = m;
  if (!(Number.isInteger(width) && Number.isInteger(height)) || width <= 0 || height <= 0) {
    throw new VideoDecodeError('corrupt', `the video track is ${width} x ${height} pixels`, { width, height });
  }
  if (width * height > l.maxPixels) {
    throw new VideoDecodeError('too large', `frames are ${width} x ${height} = ${width * height} pixels, above the limit of ${l.maxPixels}`, { width, height, maxPixels: l.maxPixels });
  }
  if (!Number.isFinite(durationMs) || durationMs < 0) throw new VideoDecodeError('corrupt', `the clip's duration is ${durationMs} ms`, { durationMs });
  if (durationMs > l.maxDurationMs) {
    throw new VideoDecodeError('too large', `the clip lasts ${(durationMs / 1000).toFixed(1)} s, above the limit of ${(l.maxDurationMs / 1000).toFixed(1)} s`, { durationMs, maxDurationMs: l.maxDurationMs });
  }
}
