// Video parts through the in-thread engine (issue 4): mmproj-tinygemma3 (gemma3 has no video format of
// its own, so a clip is its sampled frames as images with "mm:ss.t: " before each). A VP8 WebM sent as a
// Blob gives the greedy reply and prompt size of its two frames sent as image parts with the same
// timestamp texts; a truncated clip is an invalid_video naming the part, with GPU buffers flat and the
// engine answering the next request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { Gpu } from '../gpu/gpu.ts';
import { gemma3TextModelBytes, TINY_MMPROJ } from '../testing/mmproj.ts';
import { testGpu } from '../testing/gpu.ts';
import type { VideoFrame } from '../vision/family.ts';
import { decodeVideoFramesNode } from '../vision/video/decode-node.ts';
import { createInThreadEngine, type InThreadEngine } from './engine.ts';
import { ApiError } from './errors.ts';
import type { ChatCompletion, ChatMessage, ContentPart } from './types.ts';

const CLIP = readFileSync(new URL('../testing/fixtures/video/colours-vp8.webm', import.meta.url));
const text = (t: string): ContentPart => ({ type: 'text', text: t });

let gpu: Gpu, engine: InThreadEngine;

beforeAll(async () => {
  gpu = await testGpu();
  const dir = mkdtempSync(join(tmpdir(), 'edgewise-engine-video-'));
  const textModel = join(dir, 'gemma3-128.gguf');
  writeFileSync(textModel, gemma3TextModelBytes(17, 1024));
  engine = createInThreadEngine({ gpu });
  await engine.loadModel({ model: textModel, mmproj: TINY_MMPROJ, contextLength: 1024 });
}, 600_000);

afterAll(async () => {
  await engine?.dispose();
});

const chat = (messages: ChatMessage[]) => engine.chat.completions.create({ messages, max_tokens: 4, temperature: 0 }) as Promise<ChatCompletion>;

describe('engine video_url parts (gemma3: frames as timestamped images)', () => {
  it('a bad clip is refused naming the part; a clip equals its frames sent as images with their times', { timeout: 1_200_000 }, async () => {
    const live = gpu.stats().liveBuffers;
    const cut = new Blob([CLIP.subarray(0, CLIP.length >> 1)]);
    const e = await chat([{ role: 'user', content: [text('see'), { type: 'video_url', video_url: { url: cut } }] }]).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_video', param: 'messages[0].content[1]' });
    expect((e as ApiError).message).toMatch(/video corrupt: the frames stop at/);
    expect(gpu.stats().liveBuffers).toBe(live);

    const video = await chat([{ role: 'user', content: [{ type: 'video_url', video_url: { url: new Blob([CLIP]), max_frames: 2 } }, text(' what changes?')] }]);

    // The same two frames, decoded here, as PNG image parts with the timestamp texts around them.
    const frames: VideoFrame[] = [];
    for await (const f of decodeVideoFramesNode(CLIP, { maxFrames: 2 })) frames.push(f);
    expect(frames.map((f) => f.timeMs)).toEqual([0, 2000]);
    const png = (i: number) => {
      const p = new PNG({ width: frames[i].image.width, height: frames[i].image.height });
      p.data.set(frames[i].image.data);
      return `data:image/png;base64,${PNG.sync.write(p).toString('base64')}`;
    };
    await engine.resetChat();
    const images = await chat([{ role: 'user', content: [
      text('00:00.0: '), { type: 'image_url', image_url: { url: png(0) } },
      text('\n00:02.0: '), { type: 'image_url', image_url: { url: png(1) } },
      text(' what changes?'),
    ] }]);
    expect(video.usage.prompt_tokens).toBeGreaterThan(2 * 258); // two frames of 256 soft tokens + 2
    expect(video.usage.prompt_tokens).toBe(images.usage.prompt_tokens);
    expect(video.usage.completion_tokens).toBeGreaterThan(0);
    expect(video.choices[0].message.content).toBe(images.choices[0].message.content);
  });
});
