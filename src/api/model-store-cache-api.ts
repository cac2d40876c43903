// The browser's model store: Cache Storage (available to pages and workers on secure origins).
//
// A file is kept as parts, one cache entry each, so a download can be resumed part by part and a
// multi-gigabyte file never has to be one Response. Keys are the file's URL with an `edgewise-cache`
// search parameter naming the entry; the complete file's record sits at the URL itself, so
// `caches.match(url)` answers whether a model is fully cached (the chat page's picker asks this). Reads
// go through Blobs of the parts, which the browser keeps on disk: only the ranges asked for are read.

import { blobSource, type ByteSource } from '../formats/gguf-source.ts';
import type { CachedFileMeta, ModelStore, PartialInfo, StorageSpace, StoredPartial } from './model-cache.ts';

export const MODEL_CACHE_NAME = 'edgewise-models';

interface Part { offset: number; length: number }
interface PartialRecord extends PartialInfo { parts: Part[] }
interface CompleteRecord extends CachedFileMeta { parts: Part[]; format: 'edgewise-model-cache-1' }

function entryKey(url: string, entry: string): string {
  const u = new URL(url);
  u.searchParams.set('edgewise-cache', entry);
  return u.href;
}

const partialKey = (url: string) => entryKey(url, 'partial');
const partKey = (url: string, offset: number) => entryKey(url, `part-${offset}`);

function json(value: unknown): Response {
  return new Response(JSON.stringify(value), { headers: { 'content-type': 'application/json' } });
}

async function readJson<T>(cache: Cache, key: string): Promise<T | null> {
  const r = await cache.match(key);
  if (!r) return null;
  try {
    return (await r.json()) as T;
  } catch {
    return null;
  }
}

/** The parts as one Blob, or null when one is missing or not the recorded length. */
async function partsBlob(cache: Cache, url: string, parts: Part[]): Promise<Blob | null> {
  const blobs: Blob[] = [];
  let next = 0;
  for (const p of parts) {
    if (p.offset !== next) return null;
    const r = await cache.match(partKey(url, p.offset));
    if (!r) return null;
    const b = await r.blob();
    if (b.size !== p.length) return null;
    blobs.push(b);
    next += p.length;
  }
  return new Blob(blobs);
}

export class CacheStorageModelStore implements ModelStore {
  readonly kind = 'cache-storage';
  private cache: Promise<Cache> | null = null;

  constructor(private readonly name = MODEL_CACHE_NAME) {}

  /** Whether this context has Cache Storage (secure origins only). */
  static available(): boolean {
    return typeof (globalThis as { caches?: unknown }).caches === 'object' && (globalThis as { caches?: unknown }).caches !== null;
  }

  private open(): Promise<Cache> {
    this.cache ??= caches.open(this.name);
    return this.cache;
  }

  async complete(url: string): Promise<{ meta: CachedFileMeta; source: ByteSource } | null> {
    const cache = await this.open();
    const rec = await readJson<CompleteRecord>(cache, url);
    if (!rec || rec.format !== 'edgewise-model-cache-1') return null;
    const blob = await partsBlob(cache, url, rec.parts);
    if (!blob || blob.size !== rec.size) return null;
    const { parts: _parts, format: _format, ...meta } = rec;
    void _parts; void _format;
    return { meta, source: blobSource(blob, url) };
  }

  async partial(url: string): Promise<StoredPartial | null> {
    const cache = await this.open();
    const rec = await readJson<PartialRecord>(cache, partialKey(url));
    if (!rec) return null;
    // Parts recorded but lost (evicted, or a write that never landed) shorten the prefix to what is there.
    const kept: Part[] = [];
    const blobs: Blob[] = [];
    let next = 0;
    for (const p of rec.parts) {
      const r = p.offset === next ? await cache.match(partKey(url, p.offset)) : undefined;
      const b = r ? await r.blob() : null;
      if (!b || b.size !== p.length) break;
      kept.push(p);
      blobs.push(b);
      next += p.length;
    }
    if (kept.length !== rec.parts.length) await cache.put(partialKey(url), json({ ...rec, parts: kept }));
    return { size: rec.size, etag: rec.etag, lastModified: rec.lastModified, bytes: next, source: blobSource(new Blob(blobs), url) };
  }

  async begin(url: string, info: PartialInfo): Promise<void> {
    await this.remove(url);
    const cache = await this.open();
    const rec: PartialRecord = { ...info, parts: [] };
    await cache.put(partialKey(url), json(rec));
  }

  async append(url: string, offset: number, bytes: Uint8Array): Promise<void> {
    const cache = await this.open();
    const rec = await readJson<PartialRecord>(cache, partialKey(url));
    if (!rec) throw new Error(`no download of ${url} was started in the cache`);
    const end = rec.parts.reduce((s, p) => s + p.length, 0);
    if (end !== offset) throw new Error(`append at ${offset} to a cached download of ${end} bytes`);
    await cache.put(partKey(url, offset), new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream' } }));
    rec.parts.push({ offset, length: bytes.length });
    await cache.put(partialKey(url), json(rec));
  }

  async commit(url: string, meta: CachedFileMeta): Promise<ByteSource> {
    const cache = await this.open();
    const rec = await readJson<PartialRecord>(cache, partialKey(url));
    if (!rec) throw new Error(`no download of ${url} to finish in the cache`);
    const complete: CompleteRecord = { ...meta, parts: rec.parts, format: 'edgewise-model-cache-1' };
    await cache.put(url, json(complete));
    await cache.delete(partialKey(url));
    const blob = await partsBlob(cache, url, rec.parts);
    if (!blob || blob.size !== meta.size) throw new Error(`the cached parts of ${url} are not the ${meta.size} bytes just stored`);
    return blobSource(blob, url);
  }

  async remove(url: string): Promise<void> {
    const cache = await this.open();
    const offsets = new Set<number>();
    for (const rec of [await readJson<CompleteRecord>(cache, url), await readJson<PartialRecord>(cache, partialKey(url))]) {
      for (const p of rec?.parts ?? []) offsets.add(p.offset);
    }
    await Promise.all([...offsets].map((o) => cache.delete(partKey(url, o))));
    await cache.delete(url);
    await cache.delete(partialKey(url));
  }

  async space(): Promise<StorageSpace | null> {
    const storage = (globalThis as { navigator?: { storage?: StorageManager } }).navigator?.storage;
    if (!storage?.estimate) return null;
    const { usage, quota } = await storage.estimate();
    if (quota === undefined) return null;
    return { available: Math.max(0, quota - (usage ?? 0)), usage, quota };
  }
}
