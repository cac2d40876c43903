// Video decoding in the browser (page or worker): mediabunny reads the container (MP4/MOV, WebM/Matroska)
// lazily from a Blob, WebCodecs' VideoDecoder decodes, and the sampled frames come out one at a time as
// RGBA drawn on an OffscreenCanvas. Each decoded frame is closed as soon as its pixels are copied, so at
// most a few decoder frames and one RGBA copy are alive at once, whatever the clip's length.
//
// Order of checks: bytes (before reading), container and video track, codec support, then the limits
// from the container's metadata (duration, coded size), and only then decoding. Every failure is a
// VideoDecodeError naming the problem; nothing is left open (the Input is disposed, frames closed).

import { VideoSampleSink, type VideoSample } from 'mediabunny';
import type { VideoFrame as PromptFrame } from '../family.ts';
import { openInput, openTrack, sourceBlob, type VideoSource } from './container.ts';
import { videoLimits, type VideoLimits } from './limits.ts';
import { checkSampling, planFrameTimes, VideoDecodeError, type FrameSampling } from './sample.ts';

export type { VideoSource } from './container.ts';

export interface DecodeVideoOptions extends FrameSampling, VideoLimits {
  signal?: AbortSignal;
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
    throw new VideoDecodeError('unavailable', 'this platform has no WebCodecs VideoDecoder (in Node, decode-node.ts decodes VP8/VP9 with libav.js)');
  }
  const sampling = checkSampling(options);
  const limits = videoLimits(options);
  const blob = await sourceBlob(source, limits, options.signal);
  const input = openInput(blob);
  const canvas: { c: OffscreenCanvas | null } = { c: null };
  try {
    const { track, startS: origin, durationMs } = await openTrack(input, limits, (t) => t.canDecode());
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
