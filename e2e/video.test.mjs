// Video decoding in Chromium: clips of solid colours (one colour per second) are made in the page with
// WebCodecs' VideoEncoder and mediabunny's WebM and MP4 muxers, handed to a module Worker as Blobs, and
// decoded by src/vision/video/decode-browser.ts. Checked: sampled frame count and times for the rate,
// the cap and the chunk plans, each frame's colour (codec tolerance), a blob: URL source; empty, random,
// truncated and damaged files and clips over each limit are VideoDecodeErrors with the right problem,
// and a good clip decodes again afterwards in the same worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { launchBrowser, openPage, root, startServer } from './harness.mjs';

let server, url, browser, page, errors;
before(async () => {
  ({ server, url } = await startServer());
  browser = await launchBrowser();
  ({ page, errors } = await openPage(browser, `${url}/e2e/pages/video.html`));
  await page.waitForFunction(() => window.__video !== undefined, null, { timeout: 120_000 });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

const COLOURS = [[220, 30, 30], [30, 200, 40], [30, 40, 220], [235, 235, 235], [230, 200, 20], [20, 200, 210]];
const SPEC = { width: 64, height: 48, seconds: 4, fps: 5 };

const make = (name, spec) => page.evaluate(([n, s]) => window.__video.make(n, s), [name, spec]);
const decode = (name, options = {}) => page.evaluate(([n, o]) => window.__video.decode(n, o), [name, options]);
const derive = (name, from, edit) => page.evaluate(([n, f, e]) => window.__video.derive(n, f, e), [name, from, edit]);

/** Frames at the expected times, each showing the colour of its second within codec tolerance. */
function checkFrames(result, expectedTimes, label) {
  assert.ok(!result.error, `${label}: ${JSON.stringify(result.error)}`);
  assert.deepEqual(result.frames.map((f) => f.timeMs), expectedTimes, `${label}: frame times`);
  for (const f of result.frames) {
    assert.equal(f.width, SPEC.width);
    assert.equal(f.height, SPEC.height);
    const want = COLOURS[Math.floor(f.timeMs / 1000)];
    const off = Math.max(...f.rgb.map((v, c) => Math.abs(v - want[c])));
    assert.ok(off <= 24, `${label}: frame at ${f.timeMs} ms is rgb(${f.rgb}), expected about rgb(${want}) (off by ${off})`);
  }
}

function checkRefused(result, problem, label) {
  assert.ok(result.error, `${label}: decoded ${result.frames?.length} frames instead of failing`);
  assert.equal(result.error.name, 'VideoDecodeError', `${label}: ${JSON.stringify(result.error)}`);
  assert.equal(result.error.problem, problem, `${label}: ${result.error.message}`);
}

test('WebM (VP8 and VP9): rate, cap and chunk sampling, frame colours, blob: URL', { timeout: 300_000 }, async (t) => {
  for (const codec of ['vp8', 'vp9']) {
    assert.ok(await page.evaluate(([c, w, h]) => window.__video.canEncode(c, w, h), [codec, SPEC.width, SPEC.height]), `Chromium cannot encode ${codec}`);
    const bytes = await make(`webm-${codec}`, { container: 'webm', codec, ...SPEC });
    t.diagnostic(`${codec} WebM: ${bytes} bytes for ${SPEC.seconds * SPEC.fps} frames`);
    // 1 fps over 4 s: the first frame of each second.
    checkFrames(await decode(`webm-${codec}`), [0, 1000, 2000, 3000], `${codec} 1 fps`);
    // 2 fps: every half second (frames are 200 ms apart, so 500 ms lands on the 400 ms frame).
    checkFrames(await decode(`webm-${codec}`, { fps: 2 }), [0, 400, 1000, 1400, 2000, 2400, 3000, 3400], `${codec} 2 fps`);
    // 1 fps capped at 3 frames: spread over the clip at 0, 1333 and 2667 ms -> frames 0, 1200, 2600.
    checkFrames(await decode(`webm-${codec}`, { maxFrames: 3 }), [0, 1200, 2600], `${codec} cap 3`);
    // Reka's plan: 4 chunks, middle of each (500, 1500, 2500, 3500 ms) -> frames 400, 1400, 2400, 3400.
    checkFrames(await decode(`webm-${codec}`, { mode: 'chunks', maxFrames: 4 }), [400, 1400, 2400, 3400], `${codec} chunks`);
    // A rate above the clip's own frame rate gives each frame once.
    const fast = await decode(`webm-${codec}`, { fps: 30, maxFrames: 100 });
    checkFrames(fast, Array.from({ length: 20 }, (_, i) => i * 200), `${codec} 30 fps`);
    t.diagnostic(`${codec} 64x48: ${fast.frames.length} frames decoded and read back in ${fast.ms.toFixed(0)} ms (${(fast.frames.length / fast.ms * 1000).toFixed(0)} frames/s)`);
  }
  const viaUrl = await page.evaluate(() => window.__video.decodeUrl('webm-vp8', { maxFrames: 2 }));
  checkFrames(viaUrl, [0, 2000], 'blob: URL');
  assert.deepEqual(errors, []);
});

test('MP4: H.264, AV1 or VP9 in ISO BMFF, whichever this Chromium encodes', { timeout: 300_000 }, async (t) => {
  const usable = [];
  for (const codec of ['avc', 'av1', 'vp9']) {
    if (await page.evaluate(([c, w, h]) => window.__video.canEncode(c, w, h), [codec, SPEC.width, SPEC.height])) usable.push(codec);
  }
  t.diagnostic(`MP4 codecs this Chromium encodes: ${usable.join(', ')}`);
  assert.ok(usable.length, 'no MP4 codec can be encoded here');
  for (const codec of usable) {
    await make(`mp4-${codec}`, { container: 'mp4', codec, ...SPEC });
    checkFrames(await decode(`mp4-${codec}`), [0, 1000, 2000, 3000], `${codec} MP4 1 fps`);
    checkFrames(await decode(`mp4-${codec}`, { mode: 'chunks', maxFrames: 4 }), [400, 1400, 2400, 3400], `${codec} MP4 chunks`);
  }
  assert.deepEqual(errors, []);
});

test('hostile clips: empty, not a video, truncated, damaged, over the limits; the worker decodes a good clip after each', { timeout: 300_000 }, async (t) => {
  const size = await make('good', { container: 'webm', codec: 'vp8', ...SPEC });
  await derive('empty', 'good', { empty: true });
  checkRefused(await decode('empty'), 'no frames', 'empty file');
  await derive('random', 'good', { random: 5000 });
  checkRefused(await decode('random'), 'unsupported format', 'random bytes');
  await derive('header-only', 'good', { truncate: 60 });
  const headerOnly = await decode('header-only');
  assert.ok(headerOnly.error?.name === 'VideoDecodeError' && ['corrupt', 'no frames', 'unsupported format'].includes(headerOnly.error.problem), JSON.stringify(headerOnly));
  await derive('damaged', 'good', { at: 40, noise: size - 40 });
  const damaged = await decode('damaged');
  assert.ok(damaged.error?.name === 'VideoDecodeError', `damaged clip: ${JSON.stringify(damaged).slice(0, 300)}`);
  t.diagnostic(`header only: ${headerOnly.error.message}; damaged: ${damaged.error.message}`);
  // Cut in half: the frames stop at about 2 s while the header says 4 s.
  await derive('half', 'good', { truncate: Math.floor(size / 2) });
  const half = await decode('half');
  checkRefused(half, 'corrupt', 'cut in half');
  t.diagnostic(`cut in half: ${half.error.message}`);
  checkRefused(await decode('good', { maxDurationMs: 3000 }), 'too large', 'over the duration limit');
  checkRefused(await decode('good', { maxPixels: 64 * 47 }), 'too large', 'over the pixel limit');
  checkRefused(await decode('good', { maxBytes: size - 1 }), 'too large', 'over the byte limit');
  checkFrames(await decode('good'), [0, 1000, 2000, 3000], 'good clip after the refusals');
  assert.deepEqual(errors, []);
});

test('the same WebM decoded in the browser (WebCodecs) and in Node (libav.js): same frames, pixels within rounding', { timeout: 300_000 }, async (t) => {
  const file = 'src/testing/fixtures/video/colours-vp8.webm';
  await page.evaluate(([n, p]) => window.__video.load(n, p), ['fixture', `/${file}`]);
  for (const options of [{}, { mode: 'chunks', maxFrames: 6 }]) {
    const browserSide = await page.evaluate(([n, o]) => window.__video.decodePixels(n, o), ['fixture', options]);
    assert.ok(!browserSide.error, JSON.stringify(browserSide.error));
    const nodeSide = JSON.parse(execFileSync(join(root, 'node_modules/.bin/tsx'), [join(root, 'e2e/node-video-frames.ts'), join(root, file), JSON.stringify(options)], { cwd: root, encoding: 'utf8' }));
    assert.deepEqual(browserSide.frames.map((f) => [f.timeMs, f.width, f.height]), nodeSide.map((f) => [f.timeMs, f.width, f.height]));
    for (let i = 0; i < nodeSide.length; i++) {
      const a = Buffer.from(browserSide.frames[i].rgba, 'base64'), b = Buffer.from(nodeSide[i].rgba, 'base64');
      assert.equal(a.length, b.length);
      let sum = 0, max = 0;
      for (let k = 0; k < a.length; k++) {
        if (k % 4 === 3) continue;
        const d = Math.abs(a[k] - b[k]);
        sum += d;
        max = Math.max(max, d);
      }
      const mean = sum / (a.length * 0.75);
      t.diagnostic(`${JSON.stringify(options)} frame ${i} at ${nodeSide[i].timeMs} ms: mean |browser - node| ${mean.toFixed(2)}, max ${max}`);
      // Chromium's software VP8 path and the Node conversion agree within rounding (measured: max 1).
      assert.ok(max <= 2 && mean < 0.5, `frame ${i}: mean difference ${mean}, max ${max}`);
    }
  }
  assert.deepEqual(errors, []);
});
