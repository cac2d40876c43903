// The container side of video decoding, the same in the browser and in Node: mediabunny (pure
// TypeScript) reads MP4/MOV and WebM/Matroska from a Blob, finds the video track and checks it against
// the limits from its metadata before anything is decoded. A URL is fetched with a byte limit.

import { BlobSource, Input, MATROSKA, MP4, QTFF, WEBM, type InputVideoTrack } from 'mediabunny';
import { checkVideoBytes, checkVideoMetadata, type VideoLimits } from './limits.ts';
import { VideoDecodeError } from './sample.ts';

export type VideoSource = Blob | ArrayBuffer | Uint8Array | string;

/** Read a URL (http(s), blob:, data:) into a Blob, refusing it once it passes maxBytes. */
async function fetchLimited(url: string, maxBytes: number, signal?: AbortSignal): Promise<Blob> {
  if (!/^(data|blob|https?):/i.test(url)) {
    throw new VideoDecodeError('unavailable', `a video URL must be data:, blob: or http(s), got '${url.slice(0, 60)}'`, { url: url.slice(0, 60) });
  }
  let res: Response;
  try {
    res = await fetch(url, { signal });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new VideoDecodeError('unavailable', `could not fetch ${url.slice(0, 100)}: ${(e as Error).message}`, { url: url.slice(0, 100) }, e);
  }
  if (!res.ok) throw new VideoDecodeError('unavailable', `fetching ${url.slice(0, 100)} answered HTTP ${res.status}`, { url: url.slice(0, 100), status: res.status });
  const declared = Number(res.headers.get('content-length'));
  if (declared > maxBytes) {
    void res.body?.cancel();
    checkVideoBytes(declared, { maxBytes, maxDurationMs: Infinity, maxPixels: Infinity });
  }
  const parts: Uint8Array[] = [];
  let n = 0;
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > maxBytes) {
      void reader.cancel();
      throw new VideoDecodeError('too large', `the file passed ${maxBytes} bytes while downloading`, { maxBytes });
    }
    parts.push(value);
  }
  return new Blob(parts as BlobPart[], { type: res.headers.get('content-type') ?? '' });
}

/** The source as a Blob within the byte limit (a URL is fetched). */
export async function sourceBlob(src: VideoSource, limits: Required<VideoLimits>, signal?: AbortSignal): Promise<Blob> {
  const blob = typeof src === 'string' ? await fetchLimited(src, limits.maxBytes, signal) : src instanceof Blob ? src : new Blob([src as BlobPart]);
  checkVideoBytes(blob.size, limits);
  return blob;
}

export function openInput(blob: Blob): Input {
  return new Input({ formats: [MP4, QTFF, WEBM, MATROSKA], source: new BlobSource(blob) });
}

export interface OpenedTrack {
  track: InputVideoTrack;
  /** The codec as WebCodecs names its family ('vp8', 'vp9', 'avc', 'hevc', 'av1'). */
  codec: string;
  /** First frame's time in seconds (the clip's origin; frame times are reported from it). */
  startS: number;
  /** First frame to the end of the last one, in ms. */
  durationMs: number;
}

/**
 * Container, track and limits checked; the track and its time span, ready to decode. canDecode says
 * whether this platform's decoder takes the codec (asked only after the container was read).
 */
export async function openTrack(input: Input, limits: Required<VideoLimits>, canDecode: (track: InputVideoTrack, codec: string) => Promise<boolean>): Promise<OpenedTrack> {
  try {
    return await checkTrack(input, limits, canDecode);
  } catch (e) {
    // Damaged headers make the demuxer throw whatever it hits (RangeError reading past a box, ...).
    if (e instanceof VideoDecodeError) throw e;
    throw new VideoDecodeError('corrupt', `the container could not be read: ${(e as Error)?.message ?? e}`, {}, e);
  }
}

async function checkTrack(input: Input, limits: Required<VideoLimits>, canDecode: (track: InputVideoTrack, codec: string) => Promise<boolean>): Promise<OpenedTrack> {
  if (!(await input.canRead())) throw new VideoDecodeError('unsupported format', 'not an MP4, MOV, WebM or Matroska file');
  const track = await input.getPrimaryVideoTrack();
  if (!track) throw new VideoDecodeError('no frames', 'the file has no video track');
  const codec = await track.getCodec();
  if (!codec) throw new VideoDecodeError('unsupported codec', 'the video track\'s codec is not one this build knows');
  if (!(await canDecode(track, codec))) throw new VideoDecodeError('unsupported codec', `this platform cannot decode ${codec} video`, { codec });
  const width = Math.max(track.displayWidth, track.codedWidth), height = Math.max(track.displayHeight, track.codedHeight);
  const startS = Math.max(0, await track.getFirstTimestamp());
  // The header's duration is checked before the packets are walked (a 10-hour clip is refused without
  // reading its index); the packets' own end is what the frames are planned over, and a file whose
  // packets stop well short of its header's duration was cut off (a truncated download).
  const declaredS = await track.getDurationFromMetadata();
  if (declaredS !== null) checkVideoMetadata({ durationMs: Math.max(0, declaredS - startS) * 1000, width, height }, limits);
  const endS = await track.computeDuration();
  if (declaredS !== null && endS < declaredS - Math.max(0.5, 0.05 * declaredS)) {
    throw new VideoDecodeError('corrupt', `the frames stop at ${endS.toFixed(2)} s but the header says ${declaredS.toFixed(2)} s (truncated file?)`, { endS, declaredS });
  }
  const durationMs = Math.max(0, (endS - startS) * 1000);
  checkVideoMetadata({ durationMs, width, height }, limits);
  return { track, codec, startS, durationMs };
}
