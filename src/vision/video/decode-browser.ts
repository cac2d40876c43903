// Video decoding in the browser (page or worker): mediabunny reads the container (MP4/MOV, WebM/Matroska)
// lazily from a Blob, WebCodecs' VideoDecoder decodes, and the sampled frames come out one at a time as
// RGBA drawn on an OffscreenCanvas. Each decoded frame is closed as soon as its pixels are copied, so at
// most a few decoder frames and one RGBA copy are alive at once, whatever the clip's length.
//
// Order of checks: bytes (before reading), container and video track, codec support, then the limits
// from the container's metadata (duration, coded size), and only then decoding. Every failure is a
// VideoDecodeError naming the problem; nothing is left open (the Input is disposed, frames closed).

import { BlobSource, Input, MATROSKA, MP4, QTFF, VideoSampleSink, WEBM, type InputVideoTrack, type VideoSample } from 'mediabunny';
import type { VideoFrame as PromptFrame } from '../family.ts';
import { checkVideoBytes, checkVideoMetadata, videoLimits, type VideoLimits } from './limits.ts';
import { checkSampling, planFrameTimes, VideoDecodeError, type FrameSampling } from './sample.ts';

export type VideoSource = Blob | ArrayBuffer | Uint8Array | string;

export interface DecodeVideoOptions extends FrameSampling, VideoLimits {
  signal?: AbortSignal;
}

/** Read a URL (http(s), blob:, data:) into a Blob, refusing it once it passes maxBytes. */
async function fetchLimited(url: string, maxBytes: number, signal?: AbortSignal): Promise<Blob> {
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

function asBlob(src: Exclude<VideoSource, string>): Blob {
  return src instanceof Blob ? src : new Blob([src as BlobPart]);
}

/** Container, track, codec and limits checked; the track and its time span, ready to decode. */
async function openTrack(input: Input, limits: Required<VideoLimits>): Promise<{ track: InputVideoTrack; startS: number; durationMs: number }> {
  let track: InputVideoTrack | null;
  try {
    if (!(await input.canRead())) throw new VideoDecodeError('unsupported format', 'not an MP4, MOV, WebM or Matroska file');
    track = await input.getPrimaryVideoTrack();
  } catch (e) {
    if (e instanceof VideoDecodeError) throw e;
    throw new VideoDecodeError('corrupt', `the container could not be read: ${(e as Error).message}`, {}, e);
  }
  if (!track) throw new VideoDecodeError('no frames', 'the file has no video track');
  const codec = await track.getCodec();
  if (!codec) throw new VideoDecodeError('unsupported codec', 'the video track\'s codec is not one WebCodecs knows');
  if (!(await track.canDecode())) throw new VideoDecodeError('unsupported codec', `this browser cannot decode ${codec} video`, { codec });
  const width = track.displayWidth, height = track.displayHeight;
  const startS = await track.getFirstTimestamp();
  // The header's duration is checked before the packets are walked (a 10-hour clip is refused without
  // reading its index); the packets' own end is what the frames are planned over, and a file whose
  // packets stop well short of its header's duration was cut off (a truncated download).
  const declaredS = await track.getDurationFromMetadata();
  if (declaredS !== null) checkVideoMetadata({ durationMs: Math.max(0, declaredS - Math.max(0, startS)) * 1000, width, height }, limits);
  const endS = await track.computeDuration();
  if (declaredS !== null && endS < declaredS - Math.max(0.5, 0.05 * declaredS)) {
    throw new VideoDecodeError('corrupt', `the frames stop at ${endS.toFixed(2)} s but the header says ${declaredS.toFixed(2)} s (truncated file?)`, { endS, declaredS });
  }
  const durationMs = Math.max(0, (endS - Math.max(0, startS)) * 1000);
  checkVideoMetadata({ durationMs, width: Math.max(width, track.codedWidth), height: Math.max(height, track.codedHeight) }, limits);
  return { track, startS, durationMs };
}

/** One decoded sample -> RGBA pixels at its display size, drawn on a reused OffscreenCanvas. */
function samplePixels(sample: VideoSample, canvas: { c: OffscreenCanvas | null }): PromptFrame['image'] {
  const width = sample.displayWidth, height = sample.displayHeight;
  if (!canvas.c || canvas.c.width !== width || canvas.c.height !== height) canvas.c = new OffscreenCanvas(width, height);
  const ctx = canvas.c.getContext('2d', { willReadFrequently: true }) as OffscreenCanvasRenderingContext2D;
  ctx.clearRect(0, 0, width, height);
  sample.draw(ctx, 0, 0, width, height);
  const data = ctx.getImageData(0, 0, width, height).data;
  return { width, height, channels: 4, data };
}

/**
 * Sampled frames of a clip, one at a time, with their times from the clip's first frame. The caller
 * should take each frame's pixels before asking for the next (they are not kept here).
 */
export async function* decodeVideoFrames(source: VideoSource, options: DecodeVideoOptions = {}): AsyncGenerator<PromptFrame> {
  if (typeof VideoDecoder === 'undefined') {
    throw new VideoDecodeError('unavailable', 'this platform has no WebCodecs VideoDecoder (video files decode in the browser build; in Node pass the frames as images)');
  }
  const sampling = checkSampling(options);
  const limits = videoLimits(options);
  const blob = typeof source === 'string' ? await fetchLimited(source, limits.maxBytes, options.signal) : asBlob(source);
  checkVideoBytes(blob.size, limits);
  const input = new Input({ formats: [MP4, QTFF, WEBM, MATROSKA], source: new BlobSource(blob) });
  const canvas: { c: OffscreenCanvas | null } = { c: null };
  try {
    const { track, startS, durationMs } = await openTrack(input, limits);
    const origin = Math.max(0, startS);
    const targets = planFrameTimes(durationMs, sampling).map((ms) => origin + ms / 1000);
    const sink = new VideoSampleSink(track);
    let yielded = 0, lastTime = NaN;
    const samples = sink.samplesAtTimestamps(targets);
    try {
      for (;;) {
        let r: IteratorResult<VideoSample | null>;
        try {
          r = await samples.next();
        } catch (e) {
          throw new VideoDecodeError('corrupt', `decoding failed after ${yielded} frame(s): ${(e as Error).message}`, { frames: yielded }, e);
        }
        if (r.done) break;
        const sample = r.value;
        if (!sample) continue;
        let frame: PromptFrame;
        try {
          // A rate above the clip's own gives the same frame twice: keep it once.
          if (sample.timestamp === lastTime) continue;
          lastTime = sample.timestamp;
          frame = { image: samplePixels(sample, canvas), timeMs: Math.max(0, Math.round((sample.timestamp - origin) * 1e6) / 1e3) };
        } finally {
          sample.close();
        }
        options.signal?.throwIfAborted();
        yielded++;
        yield frame;
      }
    } finally {
      await samples.return(undefined);
    }
    if (yielded === 0) throw new VideoDecodeError('no frames', 'no frame of the clip could be decoded', { durationMs });
  } finally {
    input.dispose();
    canvas.c = null;
  }
}
