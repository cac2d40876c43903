import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelsMiddleware, parseRange } from './serve-models.ts';

describe('parseRange', () => {
  it('reads one range, open ranges and suffixes, clamped to the file', () => {
    expect(parseRange(undefined, 100)).toBeNull();
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=90-1000', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-1000', 100)).toEqual({ start: 0, end: 99 });
  });
  it('refuses ranges past the end and ignores malformed or multi-range headers', () => {
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-3', 100)).toBeNull();
    expect(parseRange('bytes=0-1,5-6', 100)).toBeNull();
    expect(parseRange('items=0-1', 100)).toBeNull();
    expect(parseRange('bytes=-', 100)).toBeNull();
  });
});

describe('modelsMiddleware', () => {
  let dirA: string;
  let dirB: string;
  let server: Server;
  let base: string;
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255);

  beforeAll(async () => {
    dirA = mkdtempSync(join(tmpdir(), 'models-a-'));
    dirB = mkdtempSync(join(tmpdir(), 'models-b-'));
    writeFileSync(join(dirA, 'first.gguf'), bytes);
    writeFileSync(join(dirB, 'first.gguf'), new Uint8Array(3));
    writeFileSync(join(dirB, 'second.gguf'), new Uint8Array(5));
    writeFileSync(join(dirB, 'notes.txt'), 'not a model');
    const mw = modelsMiddleware([dirA, dirB, join(dirA, 'missing')]);
    server = createServer((req, res) => mw(req, res, () => { res.writeHead(418); res.end('next'); }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  });

  it('serves the whole file from the first folder that has it', async () => {
    const r = await fetch(`${base}/first.gguf`);
    expect(r.status).toBe(200);
    expect(r.headers.get('accept-ranges')).toBe('bytes');
    expect(new Uint8Array(await r.arrayBuffer())).toEqual(bytes);
  });

  it('answers a range with 206 and exactly those bytes', async () => {
    const r = await fetch(`${base}/first.gguf`, { headers: { Range: 'bytes=100-163' } });
    expect(r.status).toBe(206);
    expect(r.headers.get('content-range')).toBe('bytes 100-163/1000');
    expect(new Uint8Array(await r.arrayBuffer())).toEqual(bytes.slice(100, 164));
    const tail = await fetch(`${base}/first.gguf`, { headers: { Range: 'bytes=-7' } });
    expect(new Uint8Array(await tail.arrayBuffer())).toEqual(bytes.slice(993));
  });

  it('answers 416 past the end, HEAD with the size, 404 for unknown or unsafe names', async () => {
    const r = await fetch(`${base}/first.gguf`, { headers: { Range: 'bytes=1000-' } });
    expect(r.status).toBe(416);
    expect(r.headers.get('content-range')).toBe('bytes */1000');
    const h = await fetch(`${base}/first.gguf`, { method: 'HEAD' });
    expect(h.status).toBe(200);
    expect(h.headers.get('content-length')).toBe('1000');
    expect((await fetch(`${base}/absent.gguf`)).status).toBe(404);
    expect((await fetch(`${base}/..%2Fetc%2Fpasswd.gguf`)).status).toBe(404);
    expect((await fetch(`${base}/.hidden.gguf`)).status).toBe(404);
  });

  it('leaves other names to the next handler and lists the GGUF files in index.json', async () => {
    expect((await fetch(`${base}/notes.txt`)).status).toBe(418);
    const list = await (await fetch(`${base}/index.json`)).json();
    expect(list).toEqual([{ name: 'first.gguf', bytes: 1000 }, { name: 'second.gguf', bytes: 5 }]);
  });
});
