// Images through the worker engine in headless Chromium: the random-weight gemma3 text model (as a File)
// and ../shared/models/mmproj-tinygemma3.gguf (by URL from the dev server) load into the worker; an opaque
// PNG sent as a Blob is decoded in the worker (createImageBitmap + OffscreenCanvas), encoded and answered
// with exactly the Node engine's greedy reply (pngjs decode; e2e/node-engine-vision.ts). The same PNG as a
// data: URL decodes to the same pixels: its positions all come from the cache, keyed by the pixels' hash
// (one encode instead of two: SwiftShader takes minutes per encode on a loaded machine). A corrupt image
// is an ApiError naming the part, and the engine answers the next request. No console errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, openPage, root, startServer } from './harness.mjs';

const N = 6;

test('the worker engine answers an image as the Node engine does', { timeout: 1_200_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgewise-e2e-vision-'));
  const out = execFileSync(join(root, 'node_modules/.bin/tsx'), [join(root, 'e2e/node-engine-vision.ts'), dir, String(N)], { cwd: root, encoding: 'utf8' });
  const want = JSON.parse(out.trim().split('\n').at(-1));
  assert.ok(want.usage.completion_tokens > 0);
  const model = readFileSync(join(dir, 'gemma3-128.gguf')).toString('base64');
  const png = readFileSync(join(dir, 'picture.png')).toString('base64');

  const { server, url } = await startServer();
  const browser = await launchBrowser();
  try {
    const { page, errors } = await openPage(browser, `${url}/e2e/pages/engine.html`);
    await page.waitForFunction(() => window.__edgewise, null, { timeout: 120_000 });
    const r = await page.evaluate(async ({ model, png, n }) => {
      const { createEngine, WorkerEngine, ApiError } = window.__edgewise;
      const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const engine = createEngine();
      const res = { inWorker: engine instanceof WorkerEngine };
      const files = new Set();
      res.info = await engine.loadModel({
        model: new File([bytes(model)], 'gemma3-128.gguf'),
        mmproj: new URL('/models/mmproj-tinygemma3.gguf', location.href).href,
        contextLength: 512,
        onProgress: (p) => files.add(`${p.stage}:${p.file}`),
      });
      res.progress = [...files];
      const ask = (url) => engine.chat.completions.create({
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text: 'describe' }] }],
        max_tokens: n, temperature: 0,
      });
      const fromBlob = await ask(new Blob([bytes(png)], { type: 'image/png' }));
      res.blob = { text: fromBlob.choices[0].message.content, usage: fromBlob.usage };
      const fromData = await ask(`data:image/png;base64,${png}`);
      res.data = { text: fromData.choices[0].message.content, usage: fromData.usage };
      const bad = await ask(new Blob([bytes(png).subarray(0, 200)])).catch((e) => e);
      res.bad = { isApiError: bad instanceof ApiError, body: bad.body };
      const again = await ask(`data:image/png;base64,${png}`);
      res.again = { text: again.choices[0].message.content, cached: again.usage.cached_prompt_tokens, prompt: again.usage.prompt_tokens };
      await engine.dispose();
      return res;
    }, { model, png, n: N });

    console.log(`worker engine image prompt: ttft ${r.blob.usage.ttft_ms.toFixed(0)} ms (Blob), ${r.data.usage.ttft_ms.toFixed(0)} ms (data URL) for ${r.blob.usage.prompt_tokens} positions`);
    assert.equal(r.inWorker, true);
    assert.equal(r.info.hasVision, true);
    assert.equal(r.info.visionProjector, 'gemma3');
    assert.ok(r.progress.includes('upload:mmproj-tinygemma3.gguf'), r.progress.join(' '));
    for (const got of [r.blob, r.data]) {
      assert.equal(got.text, want.text);
      assert.equal(got.usage.prompt_tokens, want.usage.prompt_tokens);
      assert.equal(got.usage.completion_tokens, want.usage.completion_tokens);
    }
    assert.equal(r.data.usage.cached_prompt_tokens, r.data.usage.prompt_tokens - 1, 'the data URL decoded to other pixels than the Blob');
    assert.equal(r.bad.isApiError, true);
    assert.equal(r.bad.body.error.type, 'invalid_request_error');
    assert.equal(r.bad.body.error.code, 'invalid_image');
    assert.equal(r.bad.body.error.param, 'messages[0].content[0]');
    assert.equal(r.again.text, want.text);
    assert.equal(r.again.cached, r.again.prompt - 1);
    assert.deepEqual(errors, [], 'console errors on the page');
  } finally {
    await browser.close();
    await server.close();
  }
});
