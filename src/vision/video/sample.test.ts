import { describe, expect, it } from 'vitest';
import { EdgewiseError } from '../../errors.ts';
import { checkVideoBytes, checkVideoMetadata, videoLimits } from './limits.ts';
import { formatTimestamp, pickFrames, planFrameTimes, sampleStream, VideoDecodeError } from './sample.ts';

const problem = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(VideoDecodeError);
    return (e as VideoDecodeError).problem;
  }
  throw new Error('did not throw');
};

describe('planFrameTimes', () => {
  it('rate: one frame at the start of every 1 / fps seconds', () => {
    expect(planFrameTimes(4000)).toEqual([0, 1000, 2000, 3000]);
    expect(planFrameTimes(4001)).toEqual([0, 1000, 2000, 3000, 4000]);
    expect(planFrameTimes(3000, { fps: 2 })).toEqual([0, 500, 1000, 1500, 2000, 2500]);
    expect(planFrameTimes(1000, { fps: 0.5 })).toEqual([0]);
  });
  it('a still (zero-length) or very short clip still gives its first frame', () => {
    expect(planFrameTimes(0)).toEqual([0]);
    expect(planFrameTimes(40)).toEqual([0]);
  });
  it('rate over the cap: the cap spread evenly over the whole clip', () => {
    expect(planFrameTimes(60_000, { maxFrames: 4 })).toEqual([0, 15_000, 30_000, 45_000]);
    const t = planFrameTimes(3_600_000);
    expect(t).toHaveLength(16);
    expect(t[15]).toBe(15 * 225_000);
  });
  it('chunks: the middle of each of maxFrames equal chunks, fps ignored', () => {
    expect(planFrameTimes(6000, { mode: 'chunks', maxFrames: 6, fps: 30 })).toEqual([500, 1500, 2500, 3500, 4500, 5500]);
    expect(planFrameTimes(0, { mode: 'chunks', maxFrames: 3 })).toEqual([0, 0, 0]);
  });
  it('refuses options that cannot give a frame', () => {
    for (const s of [{ fps: 0 }, { fps: -1 }, { fps: NaN }, { maxFrames: 0 }, { maxFrames: 1.5 }, { mode: 'every' as 'rate' }]) {
      expect(() => planFrameTimes(1000, s)).toThrow(EdgewiseError);
    }
    expect(problem(() => planFrameTimes(NaN))).toBe('corrupt');
  });
});

describe('pickFrames', () => {
  const frames = [0, 200, 400, 600, 800, 1000];
  it('takes the frame on screen at each target, each frame once', () => {
    expect(pickFrames(frames, [0, 500, 1000])).toEqual([0, 2, 5]);
    expect(pickFrames(frames, [0, 100, 150, 199, 200])).toEqual([0, 1]);
    expect(pickFrames(frames, [5000])).toEqual([5]);
  });
  it('a target before the first frame takes the first frame; no frames, nothing', () => {
    expect(pickFrames([100, 300], [0, 50, 300])).toEqual([0, 1]);
    expect(pickFrames([], [0, 1000])).toEqual([]);
  });
  it('agrees with a brute-force search on random clips', () => {
    let s = 7;
    const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 200; trial++) {
      const times = Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => Math.floor(rnd() * 10_000)).sort((a, b) => a - b);
      const targets = planFrameTimes(10_000, { fps: 0.2 + rnd() * 5, maxFrames: 1 + Math.floor(rnd() * 20) });
      const want: number[] = [];
      for (const t of targets) {
        let best = 0;
        for (let i = 0; i < times.length; i++) if (times[i] <= t) best = i;
        if (want[want.length - 1] !== best) want.push(best);
      }
      expect(pickFrames(times, targets)).toEqual(want);
    }
  });
});

describe('formatTimestamp', () => {
  it('mm:ss.t, hours past an hour', () => {
    expect(formatTimestamp(0)).toBe('00:00.0');
    expect(formatTimestamp(1500)).toBe('00:01.5');
    expect(formatTimestamp(61_049)).toBe('01:01.0');
    expect(formatTimestamp(599_960)).toBe('10:00.0');
    expect(formatTimestamp(3_723_400)).toBe('1:02:03.4');
  });
});

describe('limits', () => {
  const l = videoLimits({ maxDurationMs: 10_000, maxPixels: 640 * 480, maxBytes: 1000 });
  it('bytes, duration and size refused by name before decoding', () => {
    expect(problem(() => checkVideoBytes(0, l))).toBe('no frames');
    expect(problem(() => checkVideoBytes(1001, l))).toBe('too large');
    checkVideoBytes(1000, l);
    expect(problem(() => checkVideoMetadata({ durationMs: 10_001, width: 64, height: 48 }, l))).toBe('too large');
    expect(problem(() => checkVideoMetadata({ durationMs: 1000, width: 641, height: 480 }, l))).toBe('too large');
    expect(problem(() => checkVideoMetadata({ durationMs: 1000, width: 0, height: 480 }, l))).toBe('corrupt');
    expect(problem(() => checkVideoMetadata({ durationMs: Infinity, width: 64, height: 48 }, l))).toBe('corrupt');
    checkVideoMetadata({ durationMs: 10_000, width: 640, height: 480 }, l);
  });
  it('defaults fill what is not given', () => {
    expect(videoLimits({ maxBytes: undefined }).maxBytes).toBe(256 * 1024 * 1024);
  });
});

describe('sampleStream', () => {
  it('picks what pickFrames picks, from a stream, and stops reading after the last target', async () => {
    let s = 11;
    const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 200; trial++) {
      const times = [...new Set(Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => Math.floor(rnd() * 10_000)))].sort((a, b) => a - b);
      const targets = planFrameTimes(10_000 * rnd(), { fps: 0.2 + rnd() * 5, maxFrames: 1 + Math.floor(rnd() * 20), mode: rnd() < 0.3 ? 'chunks' : 'rate' });
      let read = 0;
      async function* frames() {
        for (const t of times) {
          read++;
          yield { timeMs: t };
        }
      }
      const got: number[] = [];
      for await (const f of sampleStream(frames(), targets)) got.push(f.timeMs);
      const want = pickFrames(times, targets).map((i) => times[i]);
      expect(got).toEqual(want);
      // It reads one frame past the last pick (to know the pick is on screen at the last target), no more.
      const lastPick = times.indexOf(want[want.length - 1]);
      expect(read).toBe(Math.min(times.length, lastPick + 2));
    }
  });
});
