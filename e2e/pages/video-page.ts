// Makes test clips in the page and hands them to the decoder worker, for e2e/video.test.mjs. A clip is
// `seconds` seconds at `fps` frames per second of solid colours, one colour per second (COLOURS), encoded
// with WebCodecs' VideoEncoder through mediabunny's CanvasSource into WebM or MP4 in memory.
import { wrap } from 'comlink';
import { BufferTarget, CanvasSource, Mp4OutputFormat, Output, WebMOutputFormat, canEncodeVideo, type VideoCodec } from 'mediabunny';
import type { VideoWorkerApi } from './video-worker.ts';

export const COLOURS: [number, number, number][] = [[220, 30, 30], [30, 200, 40], [30, 40, 220], [235, 235, 235], [230, 200, 20], [20, 200, 210]];

export interface ClipSpec { container: 'webm' | 'mp4'; codec: VideoCodec; width: number; height: number; seconds: number; fps: number }

async function makeClip(spec: ClipSpec): Promise<Blob> {
  const canvas = new OffscreenCanvas(spec.width, spec.height);
  const ctx = canvas.getContext('2d')!;
  const target = new BufferTarget();
  const output = new Output({ format: spec.container === 'webm' ? new WebMOutputFormat() : new Mp4OutputFormat(), target });
  const source = new CanvasSource(canvas, { codec: spec.codec, bitrate: 2e6, keyFrameInterval: 1 });
  output.addVideoTrack(source, { frameRate: spec.fps });
  await output.start();
  for (let i = 0; i < spec.seconds * spec.fps; i++) {
    const [r, g, b] = COLOURS[Math.floor(i / spec.fps) % COLOURS.length];
    ctx.fillStyle = `rgb(${r}, ${g}, ${b})`;
    ctx.fillRect(0, 0, spec.width, spec.height);
    // A small black square moving along the top edge, so consecutive frames differ.
    ctx.fillStyle = 'black';
    ctx.fillRect((i * 4) % spec.width, 0, 4, 4);
    await source.add(i / spec.fps, 1 / spec.fps);
  }
  await output.finalize();
  return new Blob([target.buffer!], { type: spec.container === 'webm' ? 'video/webm' : 'video/mp4' });
}

const worker = wrap<VideoWorkerApi>(new Worker(new URL('./video-worker.ts', import.meta.url), { type: 'module', name: 'video-decoder' }));
const clips = new Map<string, Blob>();

const api = {
  COLOURS,
  canEncode: (codec: VideoCodec, width: number, height: number) => canEncodeVideo(codec, { width, height, bitrate: 2e6 }),
  async make(name: string, spec: ClipSpec) {
    const blob = await makeClip(spec);
    clips.set(name, blob);
    return blob.size;
  },
  /** A stored clip with bytes changed: cut to `truncate` bytes, and/or `noise` bytes overwritten from `at`. */
  derive(name: string, from: string, edit: { truncate?: number; at?: number; noise?: number; empty?: boolean; random?: number }) {
    const src = clips.get(from)!;
    return src.arrayBuffer().then((buf) => {
      let bytes = new Uint8Array(buf);
      if (edit.empty) bytes = new Uint8Array(0);
      if (edit.random !== undefined) {
        bytes = new Uint8Array(edit.random);
        let s = 12345;
        for (let i = 0; i < bytes.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; bytes[i] = s >>> 24; }
      }
      if (edit.truncate !== undefined) bytes = bytes.slice(0, edit.truncate);
      if (edit.noise !== undefined) {
        bytes = bytes.slice();
        let s = 777;
        for (let i = edit.at!; i < Math.min(bytes.length, edit.at! + edit.noise); i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; bytes[i] = s >>> 24; }
      }
      clips.set(name, new Blob([bytes]));
      return bytes.length;
    });
  },
  /** A stored clip's bytes as base64, for a test to write to disk or hand to the Node side. */
  async base64(name: string) {
    const bytes = new Uint8Array(await clips.get(name)!.arrayBuffer());
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  },
  /** A file the dev server serves (a fixture), stored under `name`. */
  async load(name: string, path: string) {
    const res = await fetch(path);
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    clips.set(name, await res.blob());
    return clips.get(name)!.size;
  },
  /** Decode and hand back every frame's RGBA as base64 (for comparing with the Node decoder). */
  async decodePixels(name: string, options = {}) {
    const r = await worker.decode(clips.get(name)!, { ...options, keepPixels: true });
    if ('error' in r) return r;
    return { frames: r.frames.map((f) => ({ timeMs: f.timeMs, width: f.width, height: f.height, rgba: btoa(Array.from(f.rgba!, (b) => String.fromCharCode(b)).join('')) })) };
  },
  decode: (name: string, options = {}) => worker.decode(clips.get(name)!, options),
  /** Through a blob: URL, as a video_url string would arrive. */
  decodeUrl: (name: string, options = {}) => worker.decode(URL.createObjectURL(clips.get(name)!), options),
};
(window as unknown as { __video: typeof api }).__video = api;
