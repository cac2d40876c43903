import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../gpu/tensor.ts';
import type { MediaChunk, VideoFrame, VisionFamily } from '../family.ts';
import type { RgbImage } from '../image.ts';
import { framesAsImages, framesFrom, planVideo, videoChunks, type FrameDecoder } from './media-video.ts';
import { VideoDecodeError } from './sample.ts';

/** A family whose "encoder" records what it saw and hands out tensors that count their releases. */
function fakeFamily(opts: { video?: boolean; failOn?: number } = {}) {
  const log = { encoded: [] as number[], released: 0, made: 0, videoFrames: [] as number[] };
  const tensor = () => { log.made++; return { release: () => { log.released++; } } as unknown as Tensor; };
  const family: VisionFamily = {
    projector: 'fake',
    outputWidth: 8,
    imagePositions: (w, h) => 2 + (w * h) / 16,
    async image(img: RgbImage): Promise<MediaChunk[]> {
      if (log.encoded.length === opts.failOn) throw new Error('encoder failed');
      log.encoded.push(img.data[0]);
      return [{ kind: 'tokens', ids: [1] }, { kind: 'embeddings', embeddings: tensor(), causal: false }, { kind: 'tokens', ids: [2] }];
    },
    destroy() {},
    ...(opts.video ? {
      defaultVideoFrames: 6,
      async video(frames: AsyncIterable<VideoFrame>) {
        for await (const f of frames) log.videoFrames.push(f.timeMs);
        return [{ kind: 'text', text: '<video>' }];
      },
    } : {}),
  };
  return { family, log };
}

const frame = (tag: number, timeMs: number): VideoFrame => ({ timeMs, image: { width: 4, height: 4, channels: 4, data: new Uint8Array(64).fill(tag) } });

describe('framesAsImages (the generic video prompt)', () => {
  it('each frame: its timestamp text, then the image chunks, encoded in order', async () => {
    const { family, log } = fakeFamily();
    const chunks = await framesAsImages(family, framesFrom([frame(10, 0), frame(11, 1000), frame(12, 61_500)]));
    const texts = chunks.filter((c) => c.kind === 'text').map((c) => (c as { text: string }).text);
    expect(texts).toEqual(['00:00.0: ', '\n00:01.0: ', '\n01:01.5: ']);
    expect(chunks.map((c) => c.kind)).toEqual(['text', 'tokens', 'embeddings', 'tokens', 'text', 'tokens', 'embeddings', 'tokens', 'text', 'tokens', 'embeddings', 'tokens']);
    expect(log.encoded).toEqual([10, 11, 12]);
    expect(log.released).toBe(0);
  });
  it('frames are encoded as they arrive, not collected first', async () => {
    const { family, log } = fakeFamily();
    const seen: number[] = [];
    async function* frames() {
      for (let i = 0; i < 3; i++) {
        seen.push(log.encoded.length); // frames encoded before this one is handed out
        yield frame(i, i * 1000);
      }
    }
    await framesAsImages(family, frames());
    expect(seen).toEqual([0, 1, 2]);
  });
  it('a decoder failure mid-clip releases the embeddings already made', async () => {
    const { family, log } = fakeFamily();
    async function* frames() {
      yield frame(1, 0);
      yield frame(2, 1000);
      throw new VideoDecodeError('corrupt', 'bad cluster');
    }
    await expect(framesAsImages(family, frames())).rejects.toMatchObject({ name: 'VideoDecodeError', problem: 'corrupt' });
    expect(log.made).toBe(2);
    expect(log.released).toBe(2);
  });
  it('an encoder failure releases what was made and stops the decoder', async () => {
    const { family, log } = fakeFamily({ failOn: 1 });
    let closed = false;
    async function* frames() {
      try {
        for (let i = 0; ; i++) yield frame(i, i * 1000);
      } finally {
        closed = true;
      }
    }
    await expect(framesAsImages(family, frames())).rejects.toThrow('encoder failed');
    expect(log.released).toBe(log.made);
    expect(closed).toBe(true);
  });
  it('over the position budget: refused before the frame that passes it is encoded', async () => {
    const { family, log } = fakeFamily(); // 3 positions per 4x4 frame
    await expect(framesAsImages(family, framesFrom([frame(1, 0), frame(2, 1000), frame(3, 2000)]), { maxPositions: 7 }))
      .rejects.toMatchObject({ name: 'VideoDecodeError', problem: 'too large' });
    expect(log.encoded).toEqual([1, 2]);
    expect(log.released).toBe(2);
  });
  it('no frames is a VideoDecodeError', async () => {
    const { family } = fakeFamily();
    await expect(framesAsImages(family, framesFrom([]))).rejects.toMatchObject({ problem: 'no frames' });
  });
});

describe('videoChunks', () => {
  const recordingDecoder = (calls: unknown[]): FrameDecoder => (source, o) => {
    calls.push(o);
    return framesFrom([frame(1, 0), frame(2, 500)]);
  };
  it('families without a video format: the generic prompt at 1 fps, at most 16 frames', async () => {
    const { family } = fakeFamily();
    const calls: unknown[] = [];
    const chunks = await videoChunks(family, new Uint8Array(4), { decode: recordingDecoder(calls), maxBytes: 99 });
    expect(calls).toEqual([{ maxBytes: 99, maxDurationMs: undefined, maxPixels: undefined, mode: 'rate', fps: 1, maxFrames: 16, signal: undefined }]);
    expect(chunks[0]).toEqual({ kind: 'text', text: '00:00.0: ' });
  });
  it('a family with its own format: one frame per chunk, its default count', async () => {
    const { family, log } = fakeFamily({ video: true });
    const calls: unknown[] = [];
    const chunks = await videoChunks(family, 'blob:x', { decode: recordingDecoder(calls), fps: 5 });
    expect(calls).toMatchObject([{ mode: 'chunks', maxFrames: 6 }]);
    expect(log.videoFrames).toEqual([0, 500]);
    expect(chunks).toEqual([{ kind: 'text', text: '<video>' }]);
  });
  it('Node (no WebCodecs): the libav.js decoder; a bad clip is a VideoDecodeError and nothing is encoded', async () => {
    const { family, log } = fakeFamily();
    await expect(videoChunks(family, new Uint8Array(10))).rejects.toMatchObject({ name: 'VideoDecodeError', problem: 'unsupported format' });
    expect(log.made).toBe(0);
    const chunks = await videoChunks(family, readFileSync(new URL('../../testing/fixtures/video/colours-vp8.webm', import.meta.url)), { maxFrames: 2 });
    expect(chunks.filter((c) => c.kind === 'text')).toEqual([{ kind: 'text', text: '00:00.0: ' }, { kind: 'text', text: '\n00:02.0: ' }]);
    expect(log.made).toBe(2);
  });
});

describe('planVideo', () => {
  const clip = () => readFileSync(new URL('../../testing/fixtures/video/colours-vp8.webm', import.meta.url));
  const countText = (t: string) => t.length; // one "token" per character, to see the text counted

  it('positions, times and a key from a first pass; produce() encodes the same frames', async () => {
    const { family, log } = fakeFamily();
    const plan = await planVideo(family, clip(), countText, { maxFrames: 3 });
    expect(plan.timesMs).toEqual([0, 1200, 2600]);
    expect(plan.sizes).toEqual([{ width: 64, height: 48 }, { width: 64, height: 48 }, { width: 64, height: 48 }]);
    const perImage = 2 + (64 * 48) / 16;
    expect(plan.positions).toBe('00:00.0: '.length + '\n00:01.2: '.length + '\n00:02.6: '.length + 3 * perImage);
    expect(log.made).toBe(0); // nothing encoded while planning
    const chunks = await plan.produce();
    expect(chunks.filter((c) => c.kind === 'text').map((c) => (c as { text: string }).text)).toEqual(['00:00.0: ', '\n00:01.2: ', '\n00:02.6: ']);
    expect(log.made).toBe(3);
    // The same clip plans to the same key; other frames to another.
    expect((await planVideo(family, clip(), countText, { maxFrames: 3 })).key).toBe(plan.key);
    expect((await planVideo(family, clip(), countText, { maxFrames: 2 })).key).not.toBe(plan.key);
  });
  it('a clip that decodes differently the second time is refused, its embeddings released', async () => {
    const { family, log } = fakeFamily();
    let pass = 0;
    const flaky: FrameDecoder = () => (pass++ === 0 ? framesFrom([frame(1, 0), frame(2, 1000)]) : framesFrom([frame(1, 0), frame(2, 1100)]));
    const plan = await planVideo(family, new Uint8Array(1), countText, { decode: flaky });
    await expect(plan.produce()).rejects.toMatchObject({ name: 'VideoDecodeError', problem: 'corrupt' });
    expect(log.released).toBe(log.made);
  });
  it('a family with its own format: its videoPositions, or a clear refusal without one', async () => {
    const { family } = fakeFamily({ video: true });
    await expect(planVideo(family, clip(), countText)).rejects.toMatchObject({ problem: 'unavailable' });
    const counted = Object.assign(family, { videoPositions: (sizes: readonly unknown[]) => 2 + 64 * sizes.length });
    const plan = await planVideo(counted, clip(), countText);
    expect(plan.timesMs).toHaveLength(6); // its default: 6 chunks of the 4 s clip
    expect(plan.positions).toBe(2 + 64 * 6);
    expect(await plan.produce()).toEqual([{ kind: 'text', text: '<video>' }]);
  });
  it('over the position budget while planning: refused before anything is encoded', async () => {
    const { family, log } = fakeFamily();
    await expect(planVideo(family, clip(), countText, { maxPositions: 300 })).rejects.toMatchObject({ problem: 'too large' });
    expect(log.made).toBe(0);
  });
});
