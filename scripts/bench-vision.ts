// Vision throughput in Node on Dawn: ms per image through a vision family (preprocess, encoder, projector;
// the GPU waited for) and video frames encoded per second (a clip decoded in Node with libav.js and its
// sampled frames encoded one by one as the generic video prompt does). Numbers only; nothing is asserted.
//   npm run bench:vision -- [--mmproj F --model F] [--images N] [--size WxH] [--clip F --fps N]
// Defaults: ../shared/models/mmproj-tinygemma3.gguf with a random gemma3 text model of its width (the
// text model only supplies the vocabulary and width), 5 images of 640x480, the VP8 fixture clip at 4 fps.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openGgufPath } from '../src/formats/gguf-node.ts';
import { Gpu } from '../src/gpu/gpu.ts';
import { ggufHparams } from '../src/models/load.ts';
import { gemma3TextModelBytes, TINY_MMPROJ } from '../src/testing/mmproj.ts';
import { Rng } from '../src/testing/rng.ts';
import { loadTokenizer } from '../src/tokenizer/tokenizer.ts';
import { loadVisionFamily } from '../src/vision/families.ts';
import type { MediaChunk } from '../src/vision/family.ts';
import type { RgbImage } from '../src/vision/image.ts';
import { framesAsImages, releaseChunks } from '../src/vision/video/media-video.ts';
import { decodeVideoFramesNode } from '../src/vision/video/decode-node.ts';

const { values } = parseArgs({
  options: {
    mmproj: { type: 'string' }, model: { type: 'string' }, images: { type: 'string', default: '5' },
    size: { type: 'string', default: '640x480' }, clip: { type: 'string' }, fps: { type: 'string', default: '4' },
  },
});
const dir = mkdtempSync(join(tmpdir(), 'edgewise-bench-vision-'));
try {
  let textPath = values.model;
  if (!textPath) writeFileSync((textPath = join(dir, 'gemma3-text.gguf')), gemma3TextModelBytes());
  const mmprojPath = values.mmproj ?? TINY_MMPROJ;
  const text = await openGgufPath(textPath);
  const mmproj = await openGgufPath(mmprojPath);
  const gpu = await Gpu.create({ label: 'bench-vision' });
  console.log(`adapter: ${gpu.info.vendor} ${gpu.info.architecture} ${gpu.info.description}; machine load ${loadavg()[0].toFixed(1)}`);
  const family = await loadVisionFamily(gpu, mmproj, { tokenizer: loadTokenizer(text), width: ggufHparams(text).nEmbd });
  console.log(`mmproj: ${mmprojPath} (projector ${family.projector}, ${family.outputWidth} wide)`);

  const [w, h] = values.size!.split('x').map(Number);
  const rng = new Rng(7);
  const image = (): RgbImage => ({ width: w, height: h, channels: 4, data: Uint8Array.from({ length: w * h * 4 }, (_, i) => ((i & 3) === 3 ? 255 : rng.int(0, 256))) });
  // One image alone compiles the pipelines; then the timed ones, each waited for on the GPU.
  const encode = async (img: RgbImage): Promise<number> => {
    const t0 = performance.now();
    const chunks: MediaChunk[] = await family.image(img);
    await gpu.sync();
    const ms = performance.now() - t0;
    releaseChunks(chunks);
    return ms;
  };
  await encode(image());
  const times: number[] = [];
  for (let i = 0; i < Number(values.images); i++) times.push(await encode(image()));
  times.sort((a, b) => a - b);
  const positions = family.imagePositions(w, h);
  console.log(`image ${w}x${h} -> ${positions} positions: ${times[times.length >> 1].toFixed(1)} ms/image median (min ${times[0].toFixed(1)}, max ${times.at(-1)!.toFixed(1)}, ${times.length} images)`);

  const clipPath = values.clip ?? new URL('../src/testing/fixtures/video/colours-vp8.webm', import.meta.url).pathname;
  const clip = readFileSync(clipPath);
  const fps = Number(values.fps);
  let frames = 0;
  let decodeMs = 0;
  async function* timedFrames() {
    const it = decodeVideoFramesNode(clip, { fps, maxFrames: 64 });
    for (;;) {
      const t0 = performance.now();
      const r = await it.next();
      decodeMs += performance.now() - t0;
      if (r.done) return;
      frames++;
      yield r.value;
    }
  }
  const t0 = performance.now();
  const chunks = await framesAsImages(family, timedFrames());
  await gpu.sync();
  const totalMs = performance.now() - t0;
  releaseChunks(chunks);
  const encodeMs = totalMs - decodeMs;
  console.log(`video ${clipPath.split('/').at(-1)} at ${fps} fps: ${frames} frames; decode ${(decodeMs / frames).toFixed(1)} ms/frame, encode ${(encodeMs / frames).toFixed(1)} ms/frame; ${((frames * 1000) / encodeMs).toFixed(2)} frames encoded/s (${((frames * 1000) / totalMs).toFixed(2)} decoded and encoded/s)`);
  family.destroy();
  gpu.destroy();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
