// The model cache's browser store (Cache Storage) in headless Chromium, against a cross-origin test
// server that counts requests and can cut a response mid-body: a cut download keeps its parts and
// resumes with Range/If-Range, the finished file is recorded at its URL (caches.match(url) answers), a
// second load sends no request, a part overwritten in the cache is caught by the sha256 re-hash and
// fetched again, and a wrong sha256 is a ModelChecksumError that leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { launchBrowser, openPage, startServer } from './harness.mjs';

function randomBytes(n, seed) {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

async function fileServer(files) {
  const log = [];
  const cuts = [];
  const cors = { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'content-range, etag, content-length' };
  const server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'access-control-allow-headers': 'range, if-range', 'access-control-allow-methods': 'GET' }).end();
      return;
    }
    const f = files.get(req.url);
    const entry = { path: req.url, range: req.headers.range, ifRange: req.headers['if-range'], status: 404, sent: 0 };
    log.push(entry);
    if (!f) { res.writeHead(404, cors).end(); return; }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m && (entry.ifRange === undefined || entry.ifRange === f.etag) ? Number(m[1]) : 0;
    const body = f.body.subarray(start);
    entry.status = m && start === Number(m[1]) && (entry.ifRange === undefined || entry.ifRange === f.etag) ? 206 : 200;
    const headers = { ...cors, etag: f.etag, 'content-length': body.length };
    if (entry.status === 206) headers['content-range'] = `bytes ${start}-${f.body.length - 1}/${f.body.length}`;
    res.writeHead(entry.status, headers);
    const cut = cuts.shift();
    if (cut !== undefined && cut < body.length) {
      entry.sent = cut;
      // The connection ends a second after the bytes went out: Chromium drops body bytes its
      // page has not read yet when a response fails, so they are given time to reach the page.
      res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.end(), 1000));
      return;
    }
    entry.sent = body.length;
    res.end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, log, cuts, base: `http://127.0.0.1:${server.address().port}` };
}

test('Cache Storage model store: resume, zero-request reload, corruption re-fetch, checksum refusal', { timeout: 300_000 }, async () => {
  const body = randomBytes(300_000, 11);
  const sha = createHash('sha256').update(body).digest('hex');
  const files = new Map([['/m/model.gguf', { body, etag: '"v1"' }]]);
  const fs = await fileServer(files);
  const { server, url } = await startServer();
  const browser = await launchBrowser();
  try {
    const { page, errors } = await openPage(browser, `${url}/e2e/pages/model-cache.html`);
    await page.waitForFunction(() => window.__modelCache, null, { timeout: 120_000 });
    const fileUrl = `${fs.base}/m/model.gguf`;
    const run = (fn, arg) => page.evaluate(fn, arg);
    const step = async ({ fileUrl, sha256, retries }) => {
      const { cachedModelFile, CacheStorageModelStore } = window.__modelCache;
      const store = new CacheStorageModelStore('edgewise-models-test');
      try {
        const f = await cachedModelFile(fileUrl, { store, sha256, retries, partBytes: 64 << 10 });
        const bytes = await f.source.read(0, f.source.size);
        const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
        return { fromCache: f.fromCache, size: bytes.length, digest, recorded: f.meta.sha256 };
      } catch (e) {
        const partial = await store.partial(fileUrl);
        return { error: e.name, message: e.message, partialBytes: partial?.bytes ?? null };
      }
    };

    // A connection cut after 100,000 bytes, no retries: one 64 KiB part plus the tail are kept.
    fs.cuts.push(100_000);
    const cut = await run(step, { fileUrl, retries: 0 });
    assert.equal(cut.error, 'GgufSourceError', cut.message);
    // The parts written and the tail flushed when the connection ended (all of it, unless the browser
    // raised the error before handing over the last bytes it had).
    assert.ok(cut.partialBytes >= 65_536 && cut.partialBytes <= 100_000, `${cut.partialBytes} bytes kept: ${cut.message}`);
    assert.equal(await run((u) => caches.match(u).then((r) => r !== undefined), fileUrl), false, 'no record at the URL until complete');

    const resumed = await run(step, { fileUrl });
    assert.deepEqual(resumed, { fromCache: false, size: body.length, digest: sha, recorded: sha });
    assert.deepEqual(fs.log.map((e) => [e.range, e.ifRange, e.status]), [['bytes=0-', undefined, 206], [`bytes=${cut.partialBytes}-`, '"v1"', 206]]);
    assert.equal(fs.log[1].sent, body.length - cut.partialBytes);
    assert.equal(await run((u) => caches.match(u).then((r) => r !== undefined), fileUrl), true, 'caches.match(url) finds the complete file');

    // Again, and again after a reload: no request.
    assert.deepEqual(await run(step, { fileUrl }), { fromCache: true, size: body.length, digest: sha, recorded: sha });
    await page.reload();
    await page.waitForFunction(() => window.__modelCache, null, { timeout: 120_000 });
    assert.deepEqual(await run(step, { fileUrl, sha256: sha }), { fromCache: true, size: body.length, digest: sha, recorded: sha });
    assert.equal(fs.log.length, 2);

    // Overwrite the first part with other bytes of the same length: the re-hash catches it.
    await run(async (u) => {
      const cache = await caches.open('edgewise-models-test');
      const key = new URL(u);
      key.searchParams.set('edgewise-cache', 'part-0');
      const part = new Uint8Array(await (await cache.match(key.href)).arrayBuffer());
      part[1000] ^= 0xff;
      await cache.put(key.href, new Response(part));
    }, fileUrl);
    assert.deepEqual(await run(step, { fileUrl, sha256: sha }), { fromCache: false, size: body.length, digest: sha, recorded: sha });
    assert.equal(fs.log.length, 3, JSON.stringify(fs.log.slice(2)));

    // A wrong sha256: refused, and nothing stays in the cache for that URL.
    files.set('/m/other.gguf', { body: randomBytes(50_000, 12), etag: '"o"' });
    const wrong = await run(step, { fileUrl: `${fs.base}/m/other.gguf`, sha256: '0'.repeat(64) });
    assert.equal(wrong.error, 'ModelChecksumError');
    assert.match(wrong.message, /expected 0{64}/);
    assert.equal(wrong.partialBytes, null);
    const left = await run(async () => (await (await caches.open('edgewise-models-test')).keys()).map((r) => r.url));
    assert.deepEqual(left.filter((u) => u.includes('other.gguf')), []);
    assert.deepEqual(errors.filter((e) => !/Failed to load resource|ERR_/.test(e)), []);
  } finally {
    await browser.close();
    await server.close();
    fs.server.close();
  }
});
