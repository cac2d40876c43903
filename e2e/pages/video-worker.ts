// The video decoder inside a module Worker, as the engine worker runs it: a clip comes in as a Blob,
// sampled frames go back as their times, sizes and the mean RGB of a centre square (enough to tell which
// solid colour a frame shows, with codec tolerance), or the typed error as plain fields.
import { expose } from 'comlink';
import { decodeVideoFrames, type DecodeVideoOptions } from '../../src/vision/video/decode-browser.ts';

export interface FrameSummary { timeMs: number; width: number; height: number; rgb: [number, number, number]; rgba?: Uint8Array }
export type DecodeResult = { frames: FrameSummary[]; ms: number } | { error: { name: string; problem?: string; message: string } };

function centreMean(img: { width: number; height: number; channels: number; data: ArrayLike<number> }): [number, number, number] {
  const s = [0, 0, 0];
  let n = 0;
  for (let y = Math.floor(img.height / 4); y < Math.ceil((3 * img.height) / 4); y++) {
    for (let x = Math.floor(img.width / 4); x < Math.ceil((3 * img.width) / 4); x++) {
      const o = (y * img.width + x) * img.channels;
      for (let c = 0; c < 3; c++) s[c] += img.data[o + c];
      n++;
    }
  }
  return [Math.round(s[0] / n), Math.round(s[1] / n), Math.round(s[2] / n)];
}

const api = {
  async decode(clip: Blob | string, options: DecodeVideoOptions & { keepPixels?: boolean } = {}): Promise<DecodeResult> {
    const t0 = performance.now();
    try {
      const frames: FrameSummary[] = [];
      for await (const f of decodeVideoFrames(clip, options)) {
        frames.push({ timeMs: f.timeMs, width: f.image.width, height: f.image.height, rgb: centreMean(f.image), ...(options.keepPixels ? { rgba: Uint8Array.from(f.image.data) } : {}) });
      }
      return { frames, ms: performance.now() - t0 };
    } catch (e) {
      const err = e as Error & { problem?: string };
      return { error: { name: err.name, problem: err.problem, message: err.message } };
    }
  },
};
export type VideoWorkerApi = typeof api;
expose(api);
