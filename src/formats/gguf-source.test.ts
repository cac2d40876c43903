import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobSource, bytesSource, GgufSourceError, urlSource } from './gguf-source.ts';
import { GgufFormatError, openGguf, openGgufUrl, readGgufHeader } from './gguf.ts';
import { fileSource, openGgufPath } from './gguf-node.ts';
import { gv, writeGgufSplits } from './gguf-writer.ts';
import { Rng } from '../testing/rng.ts';

const MODELS = resolve(fileURLToPath(new URL('../../', import.meta.url)), '../shared/models');
const STORIES = join(MODELS, 'stories260K.gguf');

/** Byte equality without vitest's element-by-element deep equal (slow on 100 KB arrays). */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  expect(actual.length, what).toBe(expected.length);
  expect(Buffer.compare(actual, expected), what).toBe(0);
}

/**
 * A static file server on 127.0.0.1. Under /range/ it answers Range requests with 206 as HTTP
 * servers and CDNs do; under /norange/ it ignores Range and always sends 200 with the whole file;
 * under /nototal/ its Content-Range has no total ('bytes 0-9/*') and HEAD gives the size.
 */
function fileServer(files: Map<string, Uint8Array>) {
  const log: { path: string; range?: string; status: number; bytes: number }[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const [, mode, name] = /^\/(range|norange|nototal)\/(.+)$/.exec(url.pathname) ?? [];
    const body = name ? files.get(name) : undefined;
    const range = req.headers.range;
    const send = (status: number, headers: Record<string, string | number>, bytes: Uint8Array) => {
      log.push({ path: url.pathname, range, status, bytes: req.method === 'HEAD' ? 0 : bytes.length });
      res.writeHead(status, { 'Content-Length': bytes.length, ...headers });
      res.end(req.method === 'HEAD' ? undefined : bytes);
    };
    if (!body) return send(404, {}, new Uint8Array(0));
    const m = mode !== 'norange' && range ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
    if (!m) return send(200, { 'Accept-Ranges': mode === 'range' ? 'bytes' : 'none' }, body);
    const first = Number(m[1]);
    const last = Math.min(m[2] ? Number(m[2]) : body.length - 1, body.length - 1);
    if (first >= body.length) return send(416, { 'Content-Range': `bytes */${body.length}` }, new Uint8Array(0));
    const total = mode === 'nototal' ? '*' : body.length; // a server that does not know the size yet
    send(206, { 'Content-Range': `bytes ${first}-${last}/${total}` }, body.subarray(first, last + 1));
  });
  return { server, log };
}

describe('GGUF over HTTP Range requests', () => {
  const stories = new Uint8Array(readFileSync(STORIES));
  const rng = new Rng(5);
  const splits = writeGgufSplits({
    metadata: { 'general.architecture': 'llama', 'llama.block_count': gv.u32(5) },
    tensors: Array.from({ length: 5 }, (_, i) => ({ name: `blk.${i}.w`, shape: [4, 32], type: 'F32' as const, values: rng.f32(128) })),
  }, 2, 'm');
  const files = new Map<string, Uint8Array>([['stories260K.gguf', stories], ['empty.gguf', new Uint8Array(0)], ['junk.gguf', new Uint8Array(64).fill(7)]]);
  for (const s of splits) files.set(s.name, s.bytes);
  const { server, log } = fileServer(files);
  let base = '';

  beforeAll(async () => {
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  });

  it('parses the header from a few small Range requests and reads tensors by range', async () => {
    log.length = 0;
    const g = await openGgufUrl(`${base}/range/stories260K.gguf`, { probeBytes: 4096, initialWindow: 4096 });
    const local = await openGgufPath(STORIES);
    expect(g.tensors).toEqual(local.tensors);
    expect([...g.metadata]).toEqual([...local.metadata]);
    await local.close();
    expect(log.every((r) => r.status === 206)).toBe(true);
    const served = log.reduce((n, r) => n + r.bytes, 0);
    expect(served).toBeGreaterThanOrEqual(g.headerBytes);
    expect(served).toBeLessThan(2 * g.headerBytes); // 4 KiB, then the window doubles: never the 1.1 MB of weights
    expect(log.length).toBeLessThanOrEqual(4);

    log.length = 0;
    const t = g.requireTensor('blk.3.ffn_up.weight');
    expectSameBytes(await g.readTensorBytes(t), stories.subarray(t.offset, t.offset + t.byteLength));
    expect(log).toEqual([{ path: '/range/stories260K.gguf', range: `bytes=${t.offset}-${t.offset + t.byteLength - 1}`, status: 206, bytes: t.byteLength }]);
  });

  it('learns the size from HEAD when Content-Range has no total', async () => {
    log.length = 0;
    const src = await urlSource(`${base}/nototal/stories260K.gguf`, { probeBytes: 4096 });
    expect(src.size).toBe(stories.length);
    expect(log.map((r) => r.status)).toEqual([206, 200]);
    expectSameBytes(await src.read(stories.length - 10, 10), stories.subarray(stories.length - 10));
  });

  it('opens every split of a split model from the first URL (query string kept)', async () => {
    const g = await openGgufUrl(`${base}/range/m-00001-of-00003.gguf?download=true`);
    expect(g.files.map((f) => f.source.name)).toEqual(splits.map((s) => `${base}/range/${s.name}?download=true`));
    expect(g.tensors.map((t) => t.split)).toEqual([0, 0, 1, 1, 2]);
    const t = g.requireTensor('blk.4.w');
    const local = await readGgufHeader(bytesSource(splits[2].bytes)); // one split alone is not a model: read its header
    const want = local.tensors.find((x) => x.name === 'blk.4.w')!;
    expectSameBytes(await g.readTensorBytes(t), splits[2].bytes.subarray(want.offset, want.offset + want.byteLength));
  });

  it('falls back to one whole download, and says so, when the server ignores Range on a small file', async () => {
    const messages: string[] = [];
    log.length = 0;
    const src = await urlSource(`${base}/norange/stories260K.gguf`, { onFallback: (m) => messages.push(m) });
    expect(src.mode).toBe('whole');
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain('ignored Range');
    const g = await openGguf(src);
    expect(g.tensors.length).toBe(48);
    const t = g.requireTensor('output.weight');
    expectSameBytes(await g.readTensorBytes(t), stories.subarray(t.offset, t.offset + t.byteLength));
    expect(log.length).toBe(1); // everything after the first response comes from memory
  });

  it('refuses with a typed error when the server ignores Range on a file over the whole-download limit', async () => {
    let err: unknown;
    await urlSource(`${base}/norange/stories260K.gguf`, { maxWholeDownload: 100_000 }).catch((e) => (err = e));
    expect(err).toBeInstanceOf(GgufSourceError);
    expect(err).toMatchObject({ what: 'range-ignored', status: 200 });
    expect((err as Error).message).toContain(`(${stories.length} bytes), more than the 100000-byte whole-download limit`);
  });

  it('reports HTTP errors, empty files and non-GGUF bodies with typed errors', async () => {
    let err: unknown;
    await urlSource(`${base}/range/missing.gguf`).catch((e) => (err = e));
    expect(err).toMatchObject({ name: 'GgufSourceError', what: 'http', status: 404 });
    const empty = await urlSource(`${base}/range/empty.gguf`);
    expect(empty.size).toBe(0);
    await expect(openGguf(empty)).rejects.toMatchObject({ name: 'GgufFormatError', what: 'truncated' });
    await expect(openGgufUrl(`${base}/range/junk.gguf`)).rejects.toMatchObject({ name: 'GgufFormatError', what: 'magic' });
  });
});

describe('Blob, file and memory sources', () => {
  it('read exactly the asked range and refuse ranges outside the source', async () => {
    const bytes = new Uint8Array(100).map((_, i) => i);
    const sources = [bytesSource(bytes, 'mem'), blobSource(new Blob([bytes]), 'blob')];
    for (const s of sources) {
      expect(s.size).toBe(100);
      expect(await s.read(10, 5)).toEqual(new Uint8Array([10, 11, 12, 13, 14]));
      expect(await s.read(100, 0)).toEqual(new Uint8Array(0));
      for (const [o, n] of [[99, 2], [-1, 1], [0.5, 1]]) {
        await expect(s.read(o, n), `${s.name} ${o}+${n}`).rejects.toMatchObject({ name: 'GgufSourceError', what: 'range' });
      }
    }
  });

  it('a file source reads only what the parser asks for, and a missing path is a typed error', async () => {
    const src = await fileSource(STORIES);
    const h = await readGgufHeader(src, { initialWindow: 8192 });
    expect(src.bytesRead).toBe(h.bytesRead);
    expect(src.bytesRead).toBeLessThan(2 * h.headerBytes);
    await src.close?.();
    let err: unknown;
    await fileSource(join(MODELS, 'no-such.gguf')).catch((e) => (err = e));
    expect(err).toBeInstanceOf(GgufSourceError);
    expect(err).toMatchObject({ what: 'io' });
    expect(err).not.toBeInstanceOf(GgufFormatError);
  });
});
