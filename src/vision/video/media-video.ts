// A video part -> the prompt chunks the engine splices in. A family with its own video format (Reka
// Edge's yasa2: a fixed number of frames, one per equal chunk of the clip) gets the sampled frames through
// family.video. Any other family (gemma3, llava, idefics3) gets the generic video prompt, framesAsImages:
//
//     "00:00.0: " <frame 0 as the family's image chunks> "\n00:01.0: " <frame 1 as image chunks> ...
//
// each frame preceded by its presentation time as mm:ss.t (hours added past an hour) and ": ", frames
// after the first on a new line, sampled at fps (default 1) and at most maxFrames (default 16; a longer
// clip has its frames spread evenly). Frames are encoded one at a time as they are decoded and their
// pixels dropped, so a clip holds at most one decoded frame in memory plus its encoded embeddings.
//
// Decoding is the platform's, loaded only when a video arrives: in a browser (page or worker) WebCodecs
// through decode-browser.ts (with the demuxers, ~66 KB gzipped); in Node, which has no WebCodecs,
// decode-node.ts: the same demuxing and limits, VP8/VP9 decoded by libav.js's WebAssembly libvpx (the
// optional @libav.js/variant-webm-vp9 package; without it a clip is VideoDecodeError 'unavailable').

import type { MediaChunk, VideoFrame, VisionFamily } from '../family.ts';
import type { VideoLimits } from './limits.ts';
import { DEFAULT_VIDEO_FPS, DEFAULT_VIDEO_MAX_FRAMES, formatTimestamp, VideoDecodeError, type FrameSampling } from './sample.ts';

export type VideoInput = Blob | ArrayBuffer | Uint8Array | string;

/** Decodes a clip into sampled frames (decode-browser.ts's decodeVideoFrames has this shape). */
export type FrameDecoder = (source: VideoInput, options: FrameSampling & VideoLimits & { signal?: AbortSignal }) => AsyncIterable<VideoFrame>;

export interface VideoChunkOptions extends VideoLimits {
  /** Frames per second of clip time (generic prompt; default 1). */
  fps?: number;
  /** At most this many frames (generic prompt: default 16; a family's own format: its default count). */
  maxFrames?: number;
  /** Refuse the clip once its frames would take more prompt positions than this, before encoding more. */
  maxPositions?: number;
  signal?: AbortSignal;
  /** The decoder to use; default: WebCodecs (decode-browser.ts), loaded on first use. */
  decode?: FrameDecoder;
}

/** The chunks' GPU tensors, released (chunks built for a request that then failed). */
export function releaseChunks(chunks: readonly MediaChunk[]): void {
  for (const c of chunks) if (c.kind === 'embeddings') c.embeddings.release();
}

/**
 * The generic video prompt: each frame as its timestamp text then the family's image chunks, encoded as
 * the frames arrive. On any failure (decoding, the position budget, encoding) the embeddings already made
 * are released before the error goes on.
 */
export async function framesAsImages(family: VisionFamily, frames: AsyncIterable<VideoFrame>, opts: { maxPositions?: number; signal?: AbortSignal } = {}): Promise<MediaChunk[]> {
  const out: MediaChunk[] = [];
  let positions = 0, n = 0;
  try {
    for await (const frame of frames) {
      opts.signal?.throwIfAborted();
      const text = `${n ? '\n' : ''}${formatTimestamp(frame.timeMs)}: `;
      // The text's own tokens are not counted here: a few per frame, the engine checks the whole prompt.
      positions += family.imagePositions(frame.image.width, frame.image.height);
      if (opts.maxPositions !== undefined && positions > opts.maxPositions) {
        throw new VideoDecodeError('too large', `the clip's frames need more than ${opts.maxPositions} prompt positions (${n + 1} frames take ${positions}); ask for fewer frames`, { frames: n + 1, positions, maxPositions: opts.maxPositions });
      }
      out.push({ kind: 'text', text });
      out.push(...(await family.image(frame.image)));
      n++;
    }
  } catch (e) {
    releaseChunks(out);
    throw e;
  }
  if (n === 0) throw new VideoDecodeError('no frames', 'the clip gave no frames');
  return out;
}

/** WebCodecs where the platform has it (browsers), else libav.js's VP8/VP9 build (Node). */
async function defaultDecoder(): Promise<FrameDecoder> {
  if (typeof VideoDecoder === 'undefined') return (await import('./decode-node.ts')).decodeVideoFramesNode;
  return (await import('./decode-browser.ts')).decodeVideoFrames;
}

/** A video part (Blob, bytes or URL) -> the chunks for the family's prompt. */
export async function videoChunks(family: VisionFamily, source: VideoInput, opts: VideoChunkOptions = {}): Promise<MediaChunk[]> {
  const decode = opts.decode ?? (await defaultDecoder());
  const limits: VideoLimits = { maxBytes: opts.maxBytes, maxDurationMs: opts.maxDurationMs, maxPixels: opts.maxPixels };
  if (family.video) {
    const maxFrames = opts.maxFrames ?? family.defaultVideoFrames ?? DEFAULT_VIDEO_MAX_FRAMES;
    return family.video(decode(source, { ...limits, mode: 'chunks', maxFrames, signal: opts.signal }));
  }
  const frames = decode(source, { ...limits, mode: 'rate', fps: opts.fps ?? DEFAULT_VIDEO_FPS, maxFrames: opts.maxFrames ?? DEFAULT_VIDEO_MAX_FRAMES, signal: opts.signal });
  return framesAsImages(family, frames, { maxPositions: opts.maxPositions, signal: opts.signal });
}

// ---------------------------------------------------------------- planned before the queue, encoded in it

/** What the engine needs before a request is queued: the clip's prompt positions and identity. */
export interface PlannedVideo {
  /** Hash of the sampled frames' sizes, times and pixels: equal keys, equal clips as the prompt sees them. */
  key: string;
  /** Prompt positions: timestamp text tokens and each frame's image positions (or the family's own count). */
  positions: number;
  timesMs: number[];
  sizes: { width: number; height: number }[];
  /**
   * Decode the clip again and encode it frame by frame (generic prompt or family.video). The frames must
   * come out at the planned times and sizes (positions depend on them), else VideoDecodeError 'corrupt'.
   */
  produce(): Promise<MediaChunk[]>;
}

/** Families with their own video format say how many positions their clip of these frame sizes takes. */
type WithVideoPositions = VisionFamily & { videoPositions?(sizes: readonly { width: number; height: number }[]): number };

/** 64-bit multiply-xorshift hash over frames, fed incrementally (no frame is kept to hash later). */
class FrameHash {
  private a = 0x9e3779b9;
  private b = 0x85ebca6b;
  add(f: VideoFrame): void {
    let { a, b } = this;
    for (const v of [f.image.width, f.image.height, f.image.channels, Math.round(f.timeMs * 1000)]) {
      a = Math.imul(a ^ v, 0x01000193);
      b = Math.imul(b ^ v, 0x5bd1e995);
    }
    const d = f.image.data;
    for (let i = 0; i < d.length; i++) {
      a = Math.imul(a ^ d[i], 0x01000193);
      b = Math.imul(b ^ d[i], 0x5bd1e995);
      b ^= b >>> 15;
    }
    this.a = a;
    this.b = b;
  }
  hex(): string {
    let { a, b } = this;
    a ^= a >>> 16; a = Math.imul(a, 0x85ebca6b); a ^= a >>> 13;
    b ^= b >>> 16; b = Math.imul(b, 0xc2b2ae35); b ^= b >>> 16;
    return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
  }
}

/**
 * A video part planned for the prompt: a first decoding pass counts, sizes and hashes the sampled frames
 * (one frame in memory at a time) so the engine knows the positions before queuing; produce() decodes
 * again and encodes as the frames arrive. Decoding twice costs decode time (small next to encoding:
 * see docs/vision.md) and keeps memory at one frame instead of every frame. countText gives the tokens
 * of a timestamp text as the engine will tokenize it.
 */
export async function planVideo(family: VisionFamily, source: VideoInput, countText: (text: string) => number, opts: VideoChunkOptions = {}): Promise<PlannedVideo> {
  const decode = opts.decode ?? (await defaultDecoder());
  // A URL is read once (within the byte limit) and both passes decode the bytes.
  const bytes = typeof source === 'string' ? await fetchSource(source, opts) : source;
  const limits: VideoLimits = { maxBytes: opts.maxBytes, maxDurationMs: opts.maxDurationMs, maxPixels: opts.maxPixels };
  const own = family.video !== undefined;
  const sampling = own
    ? { mode: 'chunks' as const, maxFrames: opts.maxFrames ?? family.defaultVideoFrames ?? DEFAULT_VIDEO_MAX_FRAMES }
    : { mode: 'rate' as const, fps: opts.fps ?? DEFAULT_VIDEO_FPS, maxFrames: opts.maxFrames ?? DEFAULT_VIDEO_MAX_FRAMES };
  const frames = () => decode(bytes, { ...limits, ...sampling, signal: opts.signal });
  const hash = new FrameHash();
  const timesMs: number[] = [], sizes: { width: number; height: number }[] = [];
  let positions = 0;
  for await (const f of frames()) {
    hash.add(f);
    timesMs.push(f.timeMs);
    sizes.push({ width: f.image.width, height: f.image.height });
    if (!own) positions += countText(`${timesMs.length > 1 ? '\n' : ''}${formatTimestamp(f.timeMs)}: `) + family.imagePositions(f.image.width, f.image.height);
    if (opts.maxPositions !== undefined && positions > opts.maxPositions) {
      throw new VideoDecodeError('too large', `the clip's frames need more than ${opts.maxPositions} prompt positions (${timesMs.length} frames take ${positions}); ask for fewer frames`, { frames: timesMs.length, positions, maxPositions: opts.maxPositions });
    }
  }
  if (timesMs.length === 0) throw new VideoDecodeError('no frames', 'the clip gave no frames');
  if (own) {
    const count = (family as WithVideoPositions).videoPositions;
    if (!count) throw new VideoDecodeError('unavailable', `the ${family.projector} family encodes clips but does not say how many positions one takes (videoPositions)`, { projector: family.projector });
    positions = count.call(family, sizes);
  }
  // The second pass must give the frames the positions were planned for.
  async function* checked(): AsyncGenerator<VideoFrame> {
    let i = 0;
    for await (const f of frames()) {
      if (f.timeMs !== timesMs[i] || f.image.width !== sizes[i]?.width || f.image.height !== sizes[i]?.height) {
        throw new VideoDecodeError('corrupt', `the clip decoded differently the second time (frame ${i})`, { frame: i });
      }
      i++;
      yield f;
    }
    if (i !== timesMs.length) throw new VideoDecodeError('corrupt', `the clip gave ${i} frames the second time, ${timesMs.length} the first`, { frames: i, planned: timesMs.length });
  }
  return {
    key: `video:${hash.hex()}:${timesMs.length}f`,
    positions,
    timesMs,
    sizes,
    produce: () => (own ? family.video!(checked()) : framesAsImages(family, checked(), { signal: opts.signal })),
  };
}

/** A URL's bytes, read once within the byte limit (a Blob stays a Blob: it is read lazily). */
async function fetchSource(url: string, opts: VideoChunkOptions): Promise<Blob> {
  const { sourceBlob } = await import('./container.ts');
  const { videoLimits } = await import('./limits.ts');
  return sourceBlob(url, videoLimits({ maxBytes: opts.maxBytes }), opts.signal);
}

/** Frames already decoded (Node, or a caller with its own decoder) -> an AsyncIterable for the above. */
export async function* framesFrom(frames: Iterable<VideoFrame>): AsyncGenerator<VideoFrame> {
  yield* frames;
}
