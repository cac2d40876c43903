// Which frames of a clip become prompt frames: pure logic, no decoding. Two plans:
//
// - 'rate' (the default, for families without a native video format): one frame at the start of every
//   1 / fps seconds of the clip (0 s, 1 s, 2 s, ... at 1 fps). When that gives more than maxFrames, the
//   maxFrames frames are spread evenly over the whole clip instead (one at the start of each of maxFrames
//   equal chunks), so a long clip is thinned rather than cut off after maxFrames / fps seconds.
// - 'chunks' (Reka Edge's yasa2 takes a fixed count): the clip is cut into maxFrames equal chunks and the
//   frame shown at the middle of each chunk is taken; fps is ignored.
//
// A target time takes the frame on screen at that time: the last frame whose presentation time is at or
// before it. Two targets that land on the same frame (a rate above the clip's own frame rate) give that
// frame once. Times are milliseconds from the clip's first frame.

import { EdgewiseError } from '../../errors.ts';

export type VideoProblem = 'unsupported format' | 'unsupported codec' | 'corrupt' | 'no frames' | 'too large' | 'unavailable';

/**
 * A video could not be used: a container or codec this build cannot read, corrupt or truncated data, a
 * clip with no decodable frame, one over a limit (bytes, duration, resolution), or no video decoder on
 * this platform (Node has no WebCodecs).
 */
export class VideoDecodeError extends EdgewiseError {
  override name = 'VideoDecodeError';
  constructor(readonly problem: VideoProblem, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(`video ${problem}: ${message}`, { problem, ...details }, cause === undefined ? undefined : { cause });
  }
}

export interface FrameSampling {
  /** Frames per second of clip time in 'rate' mode (default 1). */
  fps?: number;
  /** At most this many frames (default 16); in 'chunks' mode, exactly this many chunks. */
  maxFrames?: number;
  mode?: 'rate' | 'chunks';
}

export const DEFAULT_VIDEO_FPS = 1;
export const DEFAULT_VIDEO_MAX_FRAMES = 16;

/** Refuse sampling options that cannot give a frame (a request's fps / max_frames are checked here too). */
export function checkSampling(s: FrameSampling): Required<FrameSampling> {
  const fps = s.fps ?? DEFAULT_VIDEO_FPS, maxFrames = s.maxFrames ?? DEFAULT_VIDEO_MAX_FRAMES, mode = s.mode ?? 'rate';
  if (!(Number.isFinite(fps) && fps > 0)) throw new EdgewiseError(`video fps must be a positive number, got ${fps}`, { fps });
  if (!(Number.isInteger(maxFrames) && maxFrames >= 1)) throw new EdgewiseError(`video max frames must be a positive integer, got ${maxFrames}`, { maxFrames });
  if (mode !== 'rate' && mode !== 'chunks') throw new EdgewiseError(`video sampling mode must be 'rate' or 'chunks', got ${String(mode)}`, { mode });
  return { fps, maxFrames, mode };
}

/**
 * Target times (ms from the first frame) for a clip lasting durationMs (first frame to end of last frame).
 * Always at least one target (time 0) for a clip with a frame, whatever its length.
 */
export function planFrameTimes(durationMs: number, sampling: FrameSampling = {}): number[] {
  const { fps, maxFrames, mode } = checkSampling(sampling);
  if (!(Number.isFinite(durationMs) && durationMs >= 0)) throw new VideoDecodeError('corrupt', `clip duration is ${durationMs} ms`, { durationMs });
  if (mode === 'chunks') {
    const chunk = durationMs / maxFrames;
    return Array.from({ length: maxFrames }, (_, k) => (k + 0.5) * chunk);
  }
  const step = 1000 / fps;
  // Frames at k * step for k * step < duration; a zero-length clip (a single still frame) still has one.
  const byRate = Math.max(1, Math.ceil(durationMs / step - 1e-9));
  if (byRate <= maxFrames) return Array.from({ length: byRate }, (_, k) => k * step);
  const chunk = durationMs / maxFrames;
  return Array.from({ length: maxFrames }, (_, k) => k * chunk);
}

/**
 * Index of the frame on screen at each target, given the frames' presentation times (ascending), with
 * repeats dropped: the frames to keep, in order. Targets before the first frame take the first frame.
 */
export function pickFrames(frameTimesMs: readonly number[], targetsMs: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  for (const t of targetsMs) {
    while (i + 1 < frameTimesMs.length && frameTimesMs[i + 1] <= t) i++;
    if (frameTimesMs.length && out[out.length - 1] !== i) out.push(i);
  }
  return out;
}

/** A frame's timestamp as the prompt shows it: mm:ss.t (tenths), hours added past 59:59.9. */
export function formatTimestamp(ms: number): string {
  const tenths = Math.round(Math.max(0, ms) / 100);
  const h = Math.floor(tenths / 36000), m = Math.floor((tenths % 36000) / 600), s = Math.floor((tenths % 600) / 10), d = tenths % 10;
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${d}`;
  return h ? `${h}:${mmss}` : mmss;
}

/**
 * pickFrames over a stream: frames arrive in presentation order and each is kept only until the next
 * one shows whether it is on screen at a target. Yields the picked frames (as pickFrames would pick
 * them) and stops reading once the last target is served. At most two frames are held at once.
 */
export async function* sampleStream<T extends { timeMs: number }>(frames: AsyncIterable<T>, targetsMs: readonly number[]): AsyncGenerator<T> {
  let prev: T | null = null, ti = 0;
  for await (const f of frames) {
    if (prev !== null && targetsMs[ti] < f.timeMs) {
      yield prev;
      while (ti < targetsMs.length && targetsMs[ti] < f.timeMs) ti++;
      if (ti === targetsMs.length) return;
    }
    prev = f;
  }
  if (prev !== null && ti < targetsMs.length) yield prev;
}
