// Video decoding throughput: clips of solid colours with a moving square are made in Chromium (WebCodecs
// VideoEncoder + mediabunny's muxers; e2e/pages/video-page.ts), then decoded
//   - in the browser: src/vision/video/decode-browser.ts in a module Worker (WebCodecs), and
//   - in Node: src/vision/video/decode-node.ts (mediabunny + libav.js libvpx; VP8/VP9 only),
// every frame (frames/s, RGBA readback included) and at the default 1 fps plan (ms for the clip).
// Numbers only; nothing is asserted.
//   npx tsx scripts/bench-video.mjs [--size 640x480] [--seconds 5] [--fps 30]
import { parseArgs } from 'node:util';
import { launchBrowser, openPage, startServer } from '../e2e/harness.mjs';
import { decodeVideoFramesNode } from '../src/vision/video/decode-node.ts';

const { values } = parseArgs({ options: { size: { type: 'string', default: '640x480' }, seconds: { type: 'string', default: '5' }, fps: { type: 'string', default: '30' } } });
const [width, height] = values.size.split('x').map(Number);
const seconds = Number(values.seconds), fps = Number(values.fps);
const nFrames = seconds * fps;

const { server, url } = await startServer();
const browser = await launchBrowser();
try {
  const { page } = await openPage(browser, `${url}/e2e/pages/video.html`);
  await page.waitForFunction(() => window.__video !== undefined, null, { timeout: 120_000 });
  console.log(`clip: ${width}x${height}, ${seconds} s at ${fps} fps (${nFrames} frames); machine load ${(await import('node:os')).loadavg()[0].toFixed(1)}`);
  console.log('codec        container  bytes     encode f/s  browser all f/s  browser 1fps ms  node all f/s  node 1fps ms');
  for (const [codec, container] of [['vp8', 'webm'], ['vp9', 'webm'], ['avc', 'mp4'], ['av1', 'mp4']]) {
    if (!(await page.evaluate(([c, w, h]) => window.__video.canEncode(c, w, h), [codec, width, height]))) {
      console.log(`${codec.padEnd(12)} (this Chromium cannot encode it)`);
      continue;
    }
    const spec = { container, codec, width, height, seconds, fps };
    const t0 = performance.now();
    const bytes = await page.evaluate(([n, s]) => window.__video.make(n, s), [codec, spec]);
    const encodeFps = nFrames / ((performance.now() - t0) / 1000);
    await page.evaluate((n) => window.__video.decode(n, { fps: 1 }), codec); // warm-up: worker, decoder
    const all = await page.evaluate((n) => window.__video.decode(n, { fps: 1000, maxFrames: 100_000 }), codec);
    if (all.error) throw new Error(`${codec}: ${all.error.message}`);
    const one = await page.evaluate((n) => window.__video.decode(n, { fps: 1 }), codec);
    let nodeAll = '-', nodeOne = '-';
    if (codec === 'vp8' || codec === 'vp9') {
      const clip = Buffer.from(await page.evaluate((n) => window.__video.base64(n), codec), 'base64');
      for await (const _ of decodeVideoFramesNode(clip, { fps: 1 })); // warm-up: libav.js load
      let t = performance.now(), n = 0;
      for await (const _ of decodeVideoFramesNode(clip, { fps: 1000, maxFrames: 100_000 })) n++;
      nodeAll = (n / ((performance.now() - t) / 1000)).toFixed(0);
      t = performance.now();
      for await (const _ of decodeVideoFramesNode(clip, { fps: 1 }));
      nodeOne = (performance.now() - t).toFixed(0);
    }
    console.log(`${codec.padEnd(12)} ${container.padEnd(10)} ${String(bytes).padEnd(9)} ${encodeFps.toFixed(0).padEnd(11)} ${(all.frames.length / (all.ms / 1000)).toFixed(0).padEnd(16)} ${one.ms.toFixed(0).padEnd(16)} ${nodeAll.padEnd(13)} ${nodeOne}`);
  }
} finally {
  await browser.close();
  await server.close();
}
