// The package entry in headless Chromium: createEngine() in a page gives the worker engine; it loads
// stories260K from the dev server (by Range requests) and from a File, streams the greedy tokens the
// Node engine produces, reports usage, aborts mid-stream and keeps working, and refuses a bad request
// with an ApiError carrying the OpenAI-style body. No console errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, openPage, root, startServer } from './harness.mjs';

const PROMPT = 'Once upon a time';
const N = 32;
const MODEL_FILE = ['models/stories260K.gguf', '../shared/models/stories260K.gguf'].map((p) => join(root, p)).find((p) => existsSync(p));

/** The Node in-thread engine's greedy completion (see node-engine-greedy.ts). */
function nodeGreedy(prompt, n) {
  const out = execFileSync(join(root, 'node_modules/.bin/tsx'), [join(root, 'e2e/node-engine-greedy.ts'), MODEL_FILE, prompt, String(n)], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1));
}

test('the worker engine in Chromium streams what the Node engine generates', { timeout: 900_000 }, async () => {
  assert.ok(MODEL_FILE, 'stories260K.gguf not found in models/ or ../shared/models');
  const want = nodeGreedy(PROMPT, N);
  assert.equal(want.tokens.length, N);

  const { server, url } = await startServer();
  const browser = await launchBrowser();
  try {
    const { page, errors } = await openPage(browser, `${url}/e2e/pages/engine.html`);
    await page.waitForFunction(() => window.__edgewise, null, { timeout: 120_000 });
    const r = await page.evaluate(async ({ prompt, n }) => {
      const { createEngine, WorkerEngine, ApiError } = window.__edgewise;
      const engine = createEngine();
      const out = { inWorker: engine instanceof WorkerEngine };
      const stages = [];
      const modelUrl = new URL('/models/stories260K.gguf', location.href).href;
      out.info = await engine.loadModel({ model: modelUrl, contextLength: 256, onProgress: (p) => stages.push(p.stage) });
      out.stages = stages;

      // Greedy raw completion, streamed.
      const chunks = [];
      for await (const c of await engine.completions.create({ prompt, max_tokens: n, temperature: 0, stream: true })) chunks.push(c);
      out.tokens = chunks.flatMap((c) => c.choices[0].tokens);
      out.text = chunks.map((c) => c.choices[0].text).join('');
      out.completionUsage = chunks.at(-1).usage;
      out.completionFinish = chunks.at(-1).choices[0].finish_reason;

      // Chat stream: role chunk first, usage on the last chunk only.
      const chat = [];
      for await (const c of await engine.chat.completions.create({ messages: [{ role: 'user', content: prompt }], max_tokens: 8, temperature: 0, stream: true })) chat.push(c);
      out.chatFirstDelta = chat[0].choices[0].delta;
      out.chatUsage = chat.at(-1).usage;
      out.chatUsageElsewhere = chat.slice(0, -1).some((c) => c.usage !== undefined);

      // Abort after three chunks; then the engine still answers.
      const ac = new AbortController();
      let seen = 0;
      let last = null;
      for await (const c of await engine.chat.completions.create({ messages: [{ role: 'user', content: prompt }], max_tokens: 200, temperature: 0, stream: true, signal: ac.signal })) {
        last = c;
        if (++seen === 3) ac.abort();
      }
      out.abortFinish = last.choices[0].finish_reason;
      out.abortTokens = last.usage.completion_tokens;
      const after = await engine.chat.completions.create({ messages: [{ role: 'user', content: prompt }], max_tokens: 4, temperature: 0 });
      out.afterAbort = after.choices[0].message.content;

      // A bad request: the typed error with its body, across the worker boundary.
      const err = await engine.chat.completions.create({ messages: [] }).catch((e) => e);
      out.error = { isApiError: err instanceof ApiError, name: err.name, body: err.body };

      // A File (structured-cloned into the worker) loads too and gives the same tokens.
      const blob = await (await fetch(modelUrl)).blob();
      out.fileInfo = await engine.loadModel({ model: new File([blob], 'stories-from-file.gguf'), contextLength: 64 });
      const fromFile = await engine.completions.create({ prompt, max_tokens: 8, temperature: 0 });
      out.fileTokens = fromFile.choices[0].tokens;
      out.adapter = (await engine.adapter()).description;
      await engine.dispose();
      return out;
    }, { prompt: PROMPT, n: N });

    console.log(`worker engine: ${r.tokens.length} greedy tokens, decode ${r.completionUsage.decode_tokens_per_s.toFixed(1)} tok/s, ttft ${r.completionUsage.ttft_ms.toFixed(0)} ms on "${r.adapter}"; abort after 3 chunks at ${r.abortTokens} tokens`);
    assert.equal(r.inWorker, true, 'createEngine() in a page gives the worker engine');
    assert.equal(r.info.id, 'stories260K.gguf');
    assert.equal(r.info.architecture, 'llama');
    assert.equal(r.stages[0], 'parse');
    assert.equal(r.stages.at(-1), 'ready');
    assert.ok(r.stages.includes('upload'));

    assert.deepEqual(r.tokens, want.tokens, `worker "${r.text}" vs node "${want.text}"`);
    assert.equal(r.text, want.text);
    assert.equal(r.completionFinish, 'length');
    assert.equal(r.completionUsage.prompt_tokens, want.usage.prompt_tokens);
    assert.equal(r.completionUsage.completion_tokens, N);
    assert.equal(r.completionUsage.total_tokens, want.usage.prompt_tokens + N);
    for (const k of ['ttft_ms', 'prefill_tokens_per_s', 'decode_tokens_per_s']) assert.ok(r.completionUsage[k] > 0, `usage.${k} = ${r.completionUsage[k]}`);
    assert.equal(typeof r.completionUsage.cached_prompt_tokens, 'number');

    assert.deepEqual(r.chatFirstDelta, { role: 'assistant', content: '' });
    assert.equal(r.chatUsage.completion_tokens, 8);
    assert.equal(r.chatUsageElsewhere, false);

    assert.equal(r.abortFinish, 'abort');
    assert.ok(r.abortTokens < 20, `aborted at ${r.abortTokens} tokens`);
    assert.equal(r.afterAbort, want.text.slice(0, r.afterAbort.length));
    assert.ok(r.afterAbort.length > 0);

    assert.deepEqual(r.error, {
      isApiError: true, name: 'ApiError',
      body: { error: { message: r.error.body.error.message, type: 'invalid_request_error', param: 'messages', code: 'empty_array' } },
    });

    assert.equal(r.fileInfo.id, 'stories-from-file.gguf');
    assert.deepEqual(r.fileTokens, want.tokens.slice(0, 8));
    assert.deepEqual(errors, [], 'console errors on the page');
  } finally {
    await browser.close();
    await server.close();
  }
});
