// Video decoding where there is no WebCodecs (Node, and so the CLI): mediabunny reads the container and
// checks the limits exactly as in the browser (container.ts), and libav.js's WebAssembly build of libvpx
// (the optional @libav.js/variant-webm-vp9 package: VP8 and VP9, 3 MB of wasm) decodes the packets one
// at a time. Only the sampled frames are converted to RGBA, with the matrix and range the container
// declares (BT.601 limited range when it declares none, as browsers do) and chroma repeated over each 2x2
// block: a canvas drawing the same frame filters chroma, so edges differ by a few steps. The decoder
// holds at most the frame on screen and the next one.
//
// Other codecs (H.264, HEVC, AV1) are an 'unsupported codec' VideoDecodeError here: the browser build
// decodes them with the platform's decoders.

import { EncodedPacketSink } from 'mediabunny';
import type { VideoFrame as PromptFrame } from '../family.ts';
import type { RgbImage } from '../image.ts';
import { openInput, openTrack, sourceBlob, type VideoSource } from './container.ts';
import { videoLimits, type VideoLimits } from './limits.ts';
import { checkSampling, planFrameTimes, sampleStream, VideoDecodeError, type FrameSampling } from './sample.ts';

export const LIBAV_PACKAGE = '@libav.js/variant-webm-vp9';

/** The part of libav.js's API used here. */
interface LibAvFrame {
  data: Uint8Array;
  layout: { offset: number; stride: number }[];
  width: number;
  height: number;
  format: number;
  crop?: { top: number; bottom: number; left: number; right: number };
  pts: number;
  ptshi: number;
}
interface LibAvPacket { data: Uint8Array; pts: number; ptshi: number; dts: number; dtshi: number; flags: number; time_base_num: number; time_base_den: number }
interface LibAv {
  ff_init_decoder(name: string, config?: { time_base?: [number, number] }): Promise<[number, number, number, number]>;
  ff_decode_multi(ctx: number, pkt: number, frame: number, packets: LibAvPacket[], config?: { fin?: boolean }): Promise<LibAvFrame[]>;
  ff_free_decoder(ctx: number, pkt: number, frame: number): Promise<void>;
  av_log_set_level(level: number): Promise<void>;
}

/** libav's AV_LOG_ERROR: its banner lines ("[libvpx @ 0x...] v1.16.0") stay off stderr. */
const AV_LOG_ERROR = 16;

const DECODERS: Record<string, string> = { vp8: 'libvpx', vp9: 'libvpx-vp9' };
const AV_PIX_FMT_YUV420P = 0;

let libavPromise: Promise<LibAv> | null = null;

/** libav.js, loaded once (about 80 ms) and shared: one decoder instance per clip runs in it. */
async function loadLibAv(): Promise<LibAv> {
  libavPromise ??= (async () => {
    let mod: { LibAV: (o: object) => Promise<LibAv> } & { default?: { LibAV: (o: object) => Promise<LibAv> } };
    try {
      // A variable specifier: bundlers leave it alone, so the browser build never carries libav.js.
      const name = LIBAV_PACKAGE;
      mod = await import(/* @vite-ignore */ name);
    } catch (e) {
      throw new VideoDecodeError('unavailable', `video files need ${LIBAV_PACKAGE} in Node (npm i ${LIBAV_PACKAGE}); it is not installed`, { package: LIBAV_PACKAGE }, e);
    }
    const LibAV = mod.LibAV ?? mod.default!.LibAV;
    const libav = await LibAV({ noworker: true, nothreads: true });
    await libav.av_log_set_level(AV_LOG_ERROR);
    return libav;
  })();
  try {
    return await libavPromise;
  } catch (e) {
    libavPromise = null;
    throw e;
  }
}

const clampU8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/** How a frame's Y'CbCr maps to RGB: the matrix's luma weights and the value range. */
export interface YuvColour {
  /** Kr and Kb of the matrix: BT.601 0.299 / 0.114, BT.709 0.2126 / 0.0722, BT.2020 0.2627 / 0.0593. */
  kr: number;
  kb: number;
  /** 0-255 (full) or 16-235 / 16-240 (limited, "TV") range. */
  fullRange: boolean;
}

/** The track's colour description -> YuvColour; untagged video is BT.601 limited range, as browsers take it. */
export function yuvColour(cs: { matrix?: string | null; fullRange?: boolean | null } = {}): YuvColour {
  const k = cs.matrix === 'bt709' ? [0.2126, 0.0722] : cs.matrix === 'bt2020-ncl' ? [0.2627, 0.0593] : [0.299, 0.114];
  return { kr: k[0], kb: k[1], fullRange: cs.fullRange ?? false };
}

/** A decoded 8-bit 4:2:0 frame -> RGBA (chroma repeated over each 2x2 block), its crop applied. */
export function yuv420ToRgba(f: Pick<LibAvFrame, 'data' | 'layout' | 'width' | 'height' | 'crop'>, colour: YuvColour = yuvColour()): RgbImage {
  const c = f.crop ?? { top: 0, bottom: 0, left: 0, right: 0 };
  const width = f.width - c.left - c.right, height = f.height - c.top - c.bottom;
  const [Y, U, V] = f.layout;
  const { kr, kb, fullRange } = colour, kg = 1 - kr - kb;
  const ys = fullRange ? 1 : 255 / 219, y0 = fullRange ? 0 : 16, cs = fullRange ? 1 : 255 / 224;
  const rv = 2 * (1 - kr) * cs, gu = ((2 * kb * (1 - kb)) / kg) * cs, gv = ((2 * kr * (1 - kr)) / kg) * cs, bu = 2 * (1 - kb) * cs;
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const sy = y + c.top;
    for (let x = 0; x < width; x++) {
      const sx = x + c.left;
      const yy = ys * (f.data[Y.offset + sy * Y.stride + sx] - y0);
      const u = f.data[U.offset + (sy >> 1) * U.stride + (sx >> 1)] - 128;
      const v = f.data[V.offset + (sy >> 1) * V.stride + (sx >> 1)] - 128;
      const o = 4 * (y * width + x);
      out[o] = clampU8(yy + rv * v);
      out[o + 1] = clampU8(yy - gu * u - gv * v);
      out[o + 2] = clampU8(yy + bu * u);
      out[o + 3] = 255;
    }
  }
  return { width, height, channels: 4, data: out };
}

export interface DecodeVideoNodeOptions extends FrameSampling, VideoLimits {
  signal?: AbortSignal;
}

/** Sampled frames of a WebM/MP4 (VP8 or VP9) clip in Node, one at a time; see decode-browser.ts. */
export async function* decodeVideoFramesNode(source: VideoSource, options: DecodeVideoNodeOptions = {}): AsyncGenerator<PromptFrame> {
  const sampling = checkSampling(options);
  const limits = videoLimits(options);
  const blob = await sourceBlob(source, limits, options.signal);
  const input = openInput(blob);
  try {
    const { track, codec, startS, durationMs } = await openTrack(input, limits, async (_t, c) => c in DECODERS);
    const colour = yuvColour(await track.getColorSpace());
    const libav = await loadLibAv();
    const [, ctx, pkt, frame] = await libav.ff_init_decoder(DECODERS[codec], { time_base: [1, 1_000_000] });
    let yielded = 0;
    try {
      // Decoded frames in presentation order (VP8/VP9 output one shown frame per packet, in order).
      async function* decoded(): AsyncGenerator<LibAvFrame & { timeMs: number }> {
        const packets = new EncodedPacketSink(track).packets();
        for (;;) {
          let frames: LibAvFrame[];
          let r: IteratorResult<{ data: Uint8Array; timestamp: number; type: string }>;
          try {
            r = await packets.next();
            const batch: LibAvPacket[] = [];
            if (!r.done) {
              const us = Math.round(r.value.timestamp * 1e6);
              batch.push({ data: r.value.data, pts: us, ptshi: 0, dts: us, dtshi: 0, flags: r.value.type === 'key' ? 1 : 0, time_base_num: 1, time_base_den: 1_000_000 });
            }
            frames = await libav.ff_decode_multi(ctx, pkt, frame, batch, { fin: !!r.done });
          } catch (e) {
            throw new VideoDecodeError('corrupt', `decoding failed after ${yielded} frame(s): ${(e as Error).message ?? e}`, { frames: yielded }, e);
          }
          for (const f of frames) yield Object.assign(f, { timeMs: Math.max(0, Math.round((f.pts / 1e6 - startS) * 1e6) / 1e3) });
          if (r.done) return;
          options.signal?.throwIfAborted();
        }
      }
      for await (const f of sampleStream(decoded(), planFrameTimes(durationMs, sampling))) {
        if (f.format !== AV_PIX_FMT_YUV420P) {
          throw new VideoDecodeError('unsupported codec', `${codec} frames in pixel format ${f.format} (only 8-bit 4:2:0 is converted here)`, { codec, pixelFormat: f.format });
        }
        yielded++;
        yield { image: yuv420ToRgba(f, colour), timeMs: f.timeMs };
      }
    } finally {
      await libav.ff_free_decoder(ctx, pkt, frame);
    }
    if (yielded === 0) throw new VideoDecodeError('no frames', 'no frame of the clip could be decoded', { durationMs });
  } finally {
    input.dispose();
  }
}
