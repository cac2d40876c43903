// A clip through the worker engine in headless Chromium: the random-weight gemma3 text model (as a File)
// and ../shared/models/mmproj-tinygemma3.gguf (by URL) load into the worker; the VP8 fixture clip sent as
// a Blob is decoded in the worker (WebCodecs), its first frame encoded with its timestamp text, and the
// reply is exactly the Node engine's (libav.js decode; e2e/node-engine-video.ts). A truncated clip is an
// ApiError invalid_video naming the part, and the same good clip then comes from the cache (its frames'
// hash) with the same reply. One frame, one encode: SwiftShader takes minutes per encode under load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, openPage, root, startServer } from './harness.mjs';

const N = 6;

test('the worker engine answers a clip as the Node engine does', { timeout: 1_200_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgewise-e2e-video-'));
  const out = execFileSync(join(root, 'node_modules/.bin/tsx'), [join(root, 'e2e/node-engine-video.ts'), dir, String(N)], { cwd: root, encoding: 'utf8' });
  const want = JSON.parse(out.trim().split('\n').at(-1));
  assert.ok(want.usage.completion_tokens > 0);
  assert.ok(want.usage.prompt_tokens > 258, `prompt of ${want.usage.prompt_tokens} positions holds no frame`);
  const model = readFileSync(join(dir, 'gemma3-128.gguf')).toString('base64');
  const clip = readFileSync(join(root, 'src/testing/fixtures/video/colours-vp8.webm')).toString('base64');

  const { server, url } = await startServer();
  const browser = await launchBrowser();
  try {
    const { page, errors } = await openPage(browser, `${url}/e2e/pages/engine.html`);
    await page.waitForFunction(() => window.__edgewise, null, { timeout: 120_000 });
    const r = await page.evaluate(async ({ model, clip, n }) => {
      const { createEngine, WorkerEngine, ApiError } = window.__edgewise;
      const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const engine = createEngine();
      const res = { inWorker: engine instanceof WorkerEngine };
      await engine.loadModel({
        model: new File([bytes(model)], 'gemma3-128.gguf'),
        mmproj: new URL('/models/mmproj-tinygemma3.gguf', location.href).href,
        contextLength: 512,
      });
      const ask = (blob) => engine.chat.completions.create({
        messages: [{ role: 'user', content: [{ type: 'video_url', video_url: { url: blob, max_frames: 1 } }, { type: 'text', text: 'what happens?' }] }],
        max_tokens: n, temperature: 0,
      });
      const first = await ask(new Blob([bytes(clip)], { type: 'video/webm' }));
      res.first = { text: first.choices[0].message.content, usage: first.usage };
      const bad = await ask(new Blob([bytes(clip).subarray(0, bytes(clip).length >> 1)])).catch((e) => e);
      res.bad = { isApiError: bad instanceof ApiError, body: bad.body, message: bad.message };
      const again = await ask(new Blob([bytes(clip)]));
      res.again = { text: again.choices[0].message.content, cached: again.usage.cached_prompt_tokens, prompt: again.usage.prompt_tokens };
      await engine.dispose();
      return res;
    }, { model, clip, n: N });

    console.log(`worker engine video prompt: ttft ${r.first.usage.ttft_ms.toFixed(0)} ms for ${r.first.usage.prompt_tokens} positions`);
    assert.equal(r.inWorker, true);
    assert.equal(r.first.text, want.text);
    assert.equal(r.first.usage.prompt_tokens, want.usage.prompt_tokens);
    assert.equal(r.first.usage.completion_tokens, want.usage.completion_tokens);
    assert.equal(r.bad.isApiError, true);
    assert.equal(r.bad.body.error.code, 'invalid_video', r.bad.message);
    assert.equal(r.bad.body.error.param, 'messages[0].content[0]');
    assert.equal(r.again.text, want.text);
    // Every position up to the last prompt token is reused (the frame by its hash); the last is recomputed.
    assert.equal(r.again.cached, r.again.prompt - 1);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});
