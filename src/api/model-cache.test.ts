// The model cache in Node against a local HTTP server that counts requests, answers Range and If-Range,
// and can cut a response off mid-body: a second load makes no request, a cut download resumes from the
// stored bytes, a changed file starts over, a wrong sha256 is a ModelChecksumError, a corrupted or
// truncated cached file is fetched again, a full disk is explained with the sizes; and through the
// engine, stories260K from the cache generates what the first load generated.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, truncateSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GgufSourceError } from '../formats/gguf-source.ts';
import { Rng } from '../testing/rng.ts';
import { testGpu } from '../testing/gpu.ts';
import { createInThreadEngine } from './engine.ts';
import { ApiError } from './errors.ts';
import { cachedModelFile, ModelChecksumError, ModelStorageQuotaError, type CachedFetchOptions } from './model-cache.ts';
import { DirectoryModelStore } from './model-store-dir.ts';
import { cachedByDefault } from './model-source.ts';
import type { LoadProgress } from './types.ts';

const STORIES = join(__dirname, '../../../shared/models/stories260K.gguf');

interface Served { body: Uint8Array; etag: string }

/** A file server with Range/If-Range, a request log, and responses that can be cut after N body bytes. */
class TestServer {
  files = new Map<string, Served>();
  log: { path: string; range?: string; ifRange?: string; status: number; sent: number }[] = [];
  /** Cut the next responses after this many body bytes (one entry per response). */
  cutAfter: number[] = [];
  private server!: Server;
  base = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
      const f = this.files.get(path);
      const entry = { path, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined, status: 0, sent: 0 };
      this.log.push(entry);
      if (!f) { entry.status = 404; res.writeHead(404).end(); return; }
      const size = f.body.length;
      let start = 0;
      let end = size - 1;
      let status = 200;
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (m && (entry.ifRange === undefined || entry.ifRange === f.etag)) {
        start = Number(m[1]);
        end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
        if (start >= size) {
          entry.status = 416;
          res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
          return;
        }
        status = 206;
      }
      const body = f.body.subarray(start, end + 1);
      const headers: Record<string, string | number> = { 'content-length': body.length, etag: f.etag, 'accept-ranges': 'bytes' };
      if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${size}`;
      entry.status = status;
      res.writeHead(status, headers);
      const cut = this.cutAfter.shift();
      if (cut !== undefined && cut < body.length) {
        entry.sent = cut;
        // The connection ends a while after the bytes went out: a client may drop received bytes
        // it has not handed to the reader yet when the response then fails.
        res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.end(), 500));
        return;
      }
      entry.sent = body.length;
      res.end(body);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  serve(path: string, body: Uint8Array, etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 12)}"`): string {
    this.files.set(path, { body, etag });
    return this.base + path;
  }

  bytesSent(): number {
    return this.log.reduce((s, e) => s + e.sent, 0);
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

function randomBytes(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(0, 256);
  return out;
}

const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function readAll(f: { source: { size: number; read(o: number, n: number): Promise<Uint8Array>; close?(): Promise<void> } }): Promise<Uint8Array> {
  const b = await f.source.read(0, f.source.size);
  await f.source.close?.();
  return b;
}

let server: TestServer;
let dir: string;
beforeAll(async () => {
  server = new TestServer();
  await server.start();
  dir = mkdtempSync(join(tmpdir(), 'edgewise-cache-test-'));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

let caseNo = 0;
function fresh(): { store: DirectoryModelStore; opts: (extra?: Partial<CachedFetchOptions>) => CachedFetchOptions } {
  const store = new DirectoryModelStore(join(dir, `case-${caseNo++}`));
  server.log = [];
  server.cutAfter = [];
  return { store, opts: (extra = {}) => ({ store, partBytes: 64 << 10, progressBytes: 32 << 10, ...extra }) };
}

describe('model cache (directory store)', () => {
  it('downloads once with fetch progress, then serves the file with zero requests', async () => {
    const { opts } = fresh();
    const body = randomBytes(300_000, 1);
    const url = server.serve('/a/model.gguf', body);
    const events: LoadProgress[] = [];
    const first = await cachedModelFile(url, opts({ onProgress: (p) => events.push(p) }));
    expect(first.fromCache).toBe(false);
    expect(first.meta.sha256).toBe(hex(body));
    expect(await readAll(first)).toEqual(body);
    expect(server.log).toHaveLength(1);
    expect(server.log[0].range).toBe('bytes=0-');
    const fetches = events.filter((e) => e.stage === 'fetch');
    expect(fetches.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < fetches.length; i++) expect(fetches[i].loadedBytes).toBeGreaterThan(fetches[i - 1].loadedBytes);
    expect(fetches.every((e) => e.totalBytes === body.length && e.file === 'model.gguf' && e.fromCache === false)).toBe(true);
    expect(fetches.at(-1)!.loadedBytes).toBe(body.length);

    server.log = [];
    events.length = 0;
    const second = await cachedModelFile(url, opts({ onProgress: (p) => events.push(p) }));
    expect(second.fromCache).toBe(true);
    expect(await readAll(second)).toEqual(body);
    expect(server.log).toEqual([]);
    expect(events).toEqual([{ stage: 'cache', loadedBytes: body.length, totalBytes: body.length, file: 'model.gguf', fromCache: true }]);
  });

  it('resumes a cut download with Range and If-Range on the next call, sending each byte about once', async () => {
    const { store, opts } = fresh();
    const body = randomBytes(500_000, 2);
    const url = server.serve('/b/model.gguf', body);
    server.cutAfter = [200_000];
    const err = await cachedModelFile(url, opts({ retries: 0 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GgufSourceError);
    expect((err as Error).message).toMatch(/next load resumes/);
    const partial = await store.partial(url);
    // Whole parts plus the tail that had arrived when the connection dropped are kept (all 200,000
    // unless the client dropped its last unread bytes).
    const kept = partial!.bytes;
    expect(kept).toBeGreaterThanOrEqual(3 * 65_536);
    expect(kept).toBeLessThanOrEqual(200_000);
    await partial!.source.close?.();

    const resumed = await cachedModelFile(url, opts());
    expect(resumed.fromCache).toBe(false);
    expect(await readAll(resumed)).toEqual(body);
    expect(server.log.map((e) => [e.range, e.ifRange, e.status])).toEqual([
      ['bytes=0-', undefined, 206],
      [`bytes=${kept}-`, server.files.get('/b/model.gguf')!.etag, 206],
    ]);
    expect(server.log[1].sent).toBe(body.length - kept);
    expect(resumed.meta.sha256).toBe(hex(body));
  });

  it('resumes within one call when the connection drops twice', async () => {
    const { opts } = fresh();
    const body = randomBytes(400_000, 3);
    const url = server.serve('/c/model.gguf', body);
    server.cutAfter = [100_000, 150_000];
    const f = await cachedModelFile(url, opts({ sha256: hex(body) }));
    expect(await readAll(f)).toEqual(body);
    // Each attempt asks from what is stored: at most what the cut responses carried.
    const starts = server.log.map((e) => Number(/^bytes=(\d+)-$/.exec(e.range ?? '')![1]));
    expect(starts).toHaveLength(3);
    expect(starts[0]).toBe(0);
    expect(starts[1]).toBeGreaterThan(0);
    expect(starts[1]).toBeLessThanOrEqual(100_000);
    expect(starts[2]).toBeGreaterThan(starts[1]);
    expect(starts[2]).toBeLessThanOrEqual(starts[1] + 150_000);
    expect(server.log[2].sent).toBe(body.length - starts[2]);
  });

  it('starts over when the file changed on the server between attempts', async () => {
    const { opts } = fresh();
    const old = randomBytes(300_000, 4);
    const url = server.serve('/d/model.gguf', old);
    server.cutAfter = [100_000];
    await expect(cachedModelFile(url, opts({ retries: 0 }))).rejects.toBeInstanceOf(GgufSourceError);
    const oldEtag = server.files.get('/d/model.gguf')!.etag;
    const updated = randomBytes(300_000, 5);
    server.serve('/d/model.gguf', updated);
    const f = await cachedModelFile(url, opts());
    expect(await readAll(f)).toEqual(updated);
    expect(server.log.at(-1)).toMatchObject({ range: expect.stringMatching(/^bytes=[1-9]\d*-$/), ifRange: oldEtag, status: 200, sent: updated.length });
  });

  it('refuses a wrong sha256 with ModelChecksumError and keeps nothing', async () => {
    const { store, opts } = fresh();
    const body = randomBytes(200_000, 6);
    const url = server.serve('/e/model.gguf', body);
    const wrong = 'ab'.repeat(32);
    const err = await cachedModelFile(url, opts({ sha256: wrong })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelChecksumError);
    expect(err).toMatchObject({ expected: wrong, actual: hex(body), size: body.length, url });
    expect(await store.complete(url)).toBeNull();
    expect(await store.partial(url)).toBeNull();
    // Upper-case hex is the same digest.
    const ok = await cachedModelFile(url, opts({ sha256: hex(body).toUpperCase() }));
    expect(await readAll(ok)).toEqual(body);
  });

  it('re-fetches a cached file whose bytes no longer match its sha256, or whose size is wrong', async () => {
    const { store, opts } = fresh();
    const body = randomBytes(250_000, 7);
    const url = server.serve('/f/model.gguf', body);
    await readAll(await cachedModelFile(url, opts({ sha256: hex(body) })));

    // One flipped byte: found by the re-hash a known sha256 asks for.
    const path = store.filePath(url);
    const bad = readFileSync(path);
    bad[123_456] ^= 0x40;
    writeFileSync(path, bad);
    server.log = [];
    const events: LoadProgress[] = [];
    const again = await cachedModelFile(url, opts({ sha256: hex(body), onProgress: (p) => events.push(p) }));
    expect(again.fromCache).toBe(false);
    expect(await readAll(again)).toEqual(body);
    expect(server.log.map((e) => e.range)).toEqual(['bytes=0-']);
    expect(events.filter((e) => e.stage === 'cache').at(-1)).toMatchObject({ loadedBytes: body.length, fromCache: true });

    // A truncated file is found without a sha256 (its recorded size).
    truncateSync(path, 1000);
    server.log = [];
    const third = await cachedModelFile(url, opts());
    expect(await readAll(third)).toEqual(body);
    expect(server.log).toHaveLength(1);
  });

  it('explains a full disk with the sizes involved, before downloading', async () => {
    const { store, opts } = fresh();
    const body = randomBytes(100_000, 8);
    const url = server.serve('/g/model.gguf', body);
    store.space = async () => ({ available: 40_000, usage: 960_000, quota: 1_000_000 });
    const err = await cachedModelFile(url, opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelStorageQuotaError);
    expect(err).toMatchObject({ needed: 100_000 });
    expect((err as Error).message).toContain('100000 bytes');
    expect((err as Error).message).toContain('40000 bytes');
    expect((err as Error).message).toContain('1000000 bytes');
    expect(server.log).toHaveLength(1);
    expect(await store.partial(url)).toBeNull();
  });

  it('refuses an HTTP error without storing anything', async () => {
    const { store, opts } = fresh();
    const url = `${server.base}/missing.gguf`;
    const err = await cachedModelFile(url, opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GgufSourceError);
    expect(err).toMatchObject({ what: 'http', status: 404 });
    expect(await store.partial(url)).toBeNull();
  });

  it('caches remote URLs by default, not loopback ones', () => {
    expect(cachedByDefault('https://huggingface.co/a/b/resolve/main/m.gguf')).toBe(true);
    expect(cachedByDefault('http://127.0.0.1:8000/m.gguf')).toBe(false);
    expect(cachedByDefault('http://localhost/m.gguf')).toBe(false);
    expect(cachedByDefault('http://[::1]:9/m.gguf')).toBe(false);
  });
});

describe('engine with the model cache', () => {
  it('loads stories260K from the cache with zero requests and generates the same tokens; wrong sha256 is a model_error', async () => {
    const { store } = fresh();
    const bytes = new Uint8Array(readFileSync(STORIES));
    const url = server.serve('/models/stories260K.gguf', bytes);
    const engine = createInThreadEngine({ gpu: await testGpu() });
    const cache = { dir: store.dir };
    const stages: string[] = [];
    await engine.loadModel({ model: url, cache, sha256: hex(bytes), contextLength: 64, onProgress: (p) => stages.push(p.stage) });
    expect(stages[0]).toBe('fetch');
    expect(stages).toContain('upload');
    const want = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 12, temperature: 0 });
    expect(server.log.length).toBe(1);

    server.log = [];
    stages.length = 0;
    const info = await engine.loadModel({ model: url, cache, contextLength: 64, onProgress: (p) => stages.push(p.stage) });
    expect(server.log).toEqual([]);
    expect(stages[0]).toBe('cache');
    expect(info.id).toBe('stories260K.gguf');
    expect(info.fileBytes).toBe(bytes.length);
    const got = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 12, temperature: 0 });
    expect(got.choices[0].tokens).toEqual(want.choices[0].tokens);
    expect(got.choices[0].tokens).toHaveLength(12);

    // A wrong checksum: the stored copy does not match it, the re-download does not either.
    server.log = [];
    const err = await engine.loadModel({ model: url, cache, sha256: '00'.repeat(32) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).body.error).toMatchObject({ type: 'model_error', code: 'ModelChecksumError' });
    expect(server.log).toHaveLength(1);
    // A malformed one is the request's fault, refused before anything is unloaded or fetched.
    await engine.loadModel({ model: url, cache, contextLength: 64 });
    server.log = [];
    const bad = await engine.loadModel({ model: url, sha256: 'xyz' }).catch((e: unknown) => e);
    expect((bad as ApiError).body.error).toMatchObject({ type: 'invalid_request_error', param: 'sha256', code: 'invalid_value' });
    expect(server.log).toEqual([]);
    expect((await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 12, temperature: 0 })).choices[0].tokens).toEqual(want.choices[0].tokens);
    await engine.dispose();
  });
});
