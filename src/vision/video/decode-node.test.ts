// The Node decoder (mediabunny + libav.js libvpx) on clips Chromium's VideoEncoder made (one solid colour
// per second, 64x48, 5 fps, 4 s; see e2e/pages/video-page.ts): frame times for the sampling plans, the
// colours (the container says BT.709 full range), and hostile input as VideoDecodeErrors.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { VideoFrame } from '../family.ts';
import { decodeVideoFramesNode, yuv420ToRgba, yuvColour, type DecodeVideoNodeOptions } from './decode-node.ts';

const fixture = (name: string) => readFileSync(new URL(`../../testing/fixtures/video/${name}`, import.meta.url));
const COLOURS = [[220, 30, 30], [30, 200, 40], [30, 40, 220], [235, 235, 235]];

async function decode(bytes: Uint8Array | Blob, o: DecodeVideoNodeOptions = {}): Promise<VideoFrame[]> {
  const out: VideoFrame[] = [];
  for await (const f of decodeVideoFramesNode(bytes, o)) out.push(f);
  return out;
}

function centre(f: VideoFrame): number[] {
  const { width, data } = f.image, o = 4 * (24 * width + 32);
  return [data[o], data[o + 1], data[o + 2]];
}

async function problem(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect((e as Error).name).toBe('VideoDecodeError');
    return (e as { problem: string }).problem;
  }
  throw new Error('decoded');
}

describe('decodeVideoFramesNode', () => {
  for (const file of ['colours-vp8.webm', 'colours-vp9.mp4']) {
    it(`${file}: sampled times and colours`, async () => {
      const bytes = fixture(file);
      const plans: [DecodeVideoNodeOptions, number[]][] = [
        [{}, [0, 1000, 2000, 3000]],
        [{ maxFrames: 3 }, [0, 1200, 2600]],
        [{ mode: 'chunks', maxFrames: 4 }, [400, 1400, 2400, 3400]],
        [{ fps: 30, maxFrames: 100 }, Array.from({ length: 20 }, (_, i) => i * 200)],
      ];
      for (const [o, times] of plans) {
        const frames = await decode(bytes, o);
        expect(frames.map((f) => f.timeMs)).toEqual(times);
        for (const f of frames) {
          expect([f.image.width, f.image.height, f.image.channels]).toEqual([64, 48, 4]);
          const want = COLOURS[Math.floor(f.timeMs / 1000)];
          centre(f).forEach((v, c) => expect(Math.abs(v - want[c])).toBeLessThanOrEqual(6));
        }
      }
    });
  }
  it('H.264 is not decoded in Node: unsupported codec, named', async () => {
    await expect(decode(fixture('colours-avc.mp4'))).rejects.toThrow(/cannot decode avc video/);
  });
  it('hostile files and limits are VideoDecodeErrors; a good clip decodes after them', async () => {
    const good = fixture('colours-vp8.webm');
    expect(await problem(decode(new Uint8Array(0)))).toBe('no frames');
    expect(await problem(decode(new Uint8Array(4000).fill(7)))).toBe('unsupported format');
    expect(await problem(decode(good.subarray(0, 60)))).toBe('no frames');
    expect(await problem(decode(good.subarray(0, good.length >> 1)))).toBe('corrupt');
    expect(await problem(decode(good, { maxDurationMs: 3000 }))).toBe('too large');
    expect(await problem(decode(good, { maxPixels: 64 * 47 }))).toBe('too large');
    expect(await problem(decode(good, { maxBytes: good.length - 1 }))).toBe('too large');
    const fileUrl = (async () => { for await (const _ of decodeVideoFramesNode('file:///etc/passwd')); })();
    expect(await problem(fileUrl)).toBe('unavailable');
    // Frame data overwritten after the headers: libvpx refuses the damaged frames or decodes noise, but
    // the result is a typed error or frames, never a crash.
    const damaged = new Uint8Array(good); // a copy (Buffer.slice would be a view of good)
    for (let i = 300; i < damaged.length; i += 7) damaged[i] ^= 0x5a;
    try {
      await decode(damaged);
    } catch (e) {
      expect((e as Error).name).toBe('VideoDecodeError');
    }
    expect((await decode(good)).length).toBe(4);
  });
});

describe('yuv420ToRgba', () => {
  // One 2x2 block: Y' per pixel, one Cb/Cr, strides wider than the picture, a crop of the last column.
  const frame = { width: 3, height: 2, crop: { top: 0, bottom: 0, left: 0, right: 1 }, layout: [{ offset: 0, stride: 4 }, { offset: 8, stride: 2 }, { offset: 12, stride: 2 }], data: new Uint8Array([16, 235, 0, 0, 126, 126, 0, 0, 128, 0, 0, 0, 128, 0, 0, 0]) };
  it('limited range BT.601 greys: 16 is black, 235 white; crop and strides honoured', () => {
    const img = yuv420ToRgba(frame);
    expect([img.width, img.height]).toEqual([2, 2]);
    expect(Array.from(img.data)).toEqual([0, 0, 0, 255, 255, 255, 255, 255, 128, 128, 128, 255, 128, 128, 128, 255]);
  });
  it('full range BT.709 red: R = Y + 1.5748 Cr', () => {
    const red = { ...frame, data: frame.data.slice() };
    red.data.set([63, 63, 0, 0, 63, 63], 0);
    red.data[8] = 128 - 34;
    red.data[12] = 128 + 120;
    const [r, g, b] = yuv420ToRgba(red, yuvColour({ matrix: 'bt709', fullRange: true })).data;
    expect([r, g, b]).toEqual([Math.round(63 + 1.5748 * 120), Math.round(63 + 0.1873 * 34 - 0.4681 * 120), 0]); // blue clamps at 0
  });
});
