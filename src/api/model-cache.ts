// Downloaded model files kept on this machine, so the second load of a URL reads no network bytes.
//
// One download path for every store: ask for the bytes not yet stored with a Range request (If-Range
// with the stored ETag, so a file that changed on the server starts over instead of being spliced),
// append them in parts as they arrive, and on a dropped connection keep what came and ask again from
// there. The file's sha256 is computed as it is stored (a resumed download first re-reads the stored
// prefix), checked against the caller's when given, and recorded; a cached file whose bytes no longer
// hash to the expected value is deleted and fetched again. Where the bytes live is a ModelStore: Cache
// Storage in a browser or worker (model-store-cache-api.ts), a directory in Node (model-store-dir.ts).

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { EdgewiseError } from '../errors.ts';
import { GgufSourceError, type ByteSource } from '../formats/gguf-source.ts';
import { abortedError } from './errors.ts';
import type { LoadProgress } from './types.ts';

/** What is recorded with a complete file. */
export interface CachedFileMeta {
  url: string;
  size: number;
  /** Lower-case hex sha256 of the stored bytes. */
  sha256: string;
  etag?: string;
  lastModified?: string;
  /** ISO time the download finished. */
  storedAt: string;
}

/** The server's identity of the file a partial download belongs to. */
export interface PartialInfo {
  /** Total size, or -1 when the server did not say. */
  size: number;
  etag?: string;
  lastModified?: string;
}

export interface StoredPartial extends PartialInfo {
  /** Bytes stored so far (the prefix [0, bytes)). */
  bytes: number;
  /** Reads within the stored prefix. */
  source: ByteSource;
}

export interface StorageSpace {
  /** Bytes this store may still write. */
  available: number;
  usage?: number;
  quota?: number;
}

/** Where cached model bytes live. Every method is keyed by the file's URL. */
export interface ModelStore {
  /** 'cache-storage' or 'directory' (for messages). */
  readonly kind: string;
  /** The complete file and its record, or null (also when the stored parts are missing or the wrong size). */
  complete(url: string): Promise<{ meta: CachedFileMeta; source: ByteSource } | null>;
  partial(url: string): Promise<StoredPartial | null>;
  /** Forget any stored bytes of url and start a partial file. */
  begin(url: string, info: PartialInfo): Promise<void>;
  /** Store bytes at `offset`, which is the partial file's current length. */
  append(url: string, offset: number, bytes: Uint8Array): Promise<void>;
  /** Turn the partial file into a complete one. */
  commit(url: string, meta: CachedFileMeta): Promise<ByteSource>;
  remove(url: string): Promise<void>;
  /** How much more may be stored, when the platform says. */
  space(): Promise<StorageSpace | null>;
  /** A faster sha256 where the platform has one (Node's crypto); default jsSha256. */
  sha256?(): Sha256;
}

// ---- errors ---------------------------------------------------------------------------------------

/** The bytes of a model file do not hash to the sha256 the caller gave. */
export class ModelChecksumError extends EdgewiseError {
  override name = 'ModelChecksumError';
  constructor(readonly url: string, readonly expected: string, readonly actual: string, readonly size: number) {
    super(`${url}: sha256 of the ${size} downloaded bytes is ${actual}, expected ${expected}; the download was discarded`, { url, expected, actual, size });
  }
}

/** The model does not fit in the storage this origin (or disk) has left. */
export class ModelStorageQuotaError extends EdgewiseError {
  override name = 'ModelStorageQuotaError';
  constructor(readonly url: string, readonly needed: number, readonly space: StorageSpace | null, kind: string, cause?: unknown) {
    const avail = space ? `${formatBytes(space.available)} free` : 'less free space than that';
    const of = space?.quota !== undefined ? ` (${formatBytes(space.usage ?? 0)} used of a ${formatBytes(space.quota)} quota)` : '';
    super(
      `${url}: caching it needs ${formatBytes(needed)} more in ${kind === 'directory' ? 'the cache directory' : 'browser storage'}, but there is ${avail}${of}; ` +
      'free space (delete cached models) or load with cache: false to read it by ranges without storing it',
      { url, needed, available: space?.available, usage: space?.usage, quota: space?.quota },
      { cause },
    );
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]} (${n} bytes)`;
}

/** A storage write failed because the quota or the disk is full. */
export function isQuotaError(e: unknown): boolean {
  const x = e as { name?: string; code?: string } | null;
  return x?.name === 'QuotaExceededError' || x?.code === 'ENOSPC' || x?.code === 'EDQUOT';
}

// ---- hashing --------------------------------------------------------------------------------------

/** An incremental sha256. */
export interface Sha256 {
  update(bytes: Uint8Array): void;
  /** Lower-case hex. */
  hex(): string;
}

/** noble's pure-JS sha256: works everywhere, with no WebAssembly for a CSP to forbid. */
export function jsSha256(): Sha256 {
  const h = sha256.create();
  return { update: (b) => { h.update(b); }, hex: () => bytesToHex(h.digest()) };
}

const HASH_READ = 8 << 20;

/** sha256 (hex) of a whole source, read in bounded pieces. */
export async function sha256OfSource(src: ByteSource, onBytes?: (done: number) => void, signal?: AbortSignal, newHash: () => Sha256 = jsSha256): Promise<string> {
  const h = newHash();
  for (let off = 0; off < src.size; off += HASH_READ) {
    if (signal?.aborted) throw abortedError('loadModel');
    h.update(await src.read(off, Math.min(HASH_READ, src.size - off)));
    onBytes?.(Math.min(off + HASH_READ, src.size));
  }
  return h.hex();
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The caller's sha256 in lower case, or a TypeError naming what is wrong with it. */
export function normalizeSha256(s: string): string {
  const v = s.trim().toLowerCase();
  if (!SHA256_HEX.test(v)) throw new TypeError(`sha256 must be 64 hex digits, got ${JSON.stringify(s)}`);
  return v;
}

// ---- downloading ----------------------------------------------------------------------------------

export interface CachedFetchOptions {
  store: ModelStore;
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  /** Expected sha256 (hex) of the file. */
  sha256?: string;
  signal?: AbortSignal;
  onProgress?: (p: LoadProgress) => void;
  /** Name reported in progress events (default: the URL's last path segment). */
  file?: string;
  /** Bytes written to the store at a time (a Cache Storage entry each); default 16 MiB. */
  partBytes?: number;
  /** Connection failures survived per download by resuming where it stopped; default 4. */
  retries?: number;
  /** Bytes between 'fetch' progress events; default 1 MiB. */
  progressBytes?: number;
}

export interface CachedFile {
  source: ByteSource;
  meta: CachedFileMeta;
  /** true when no byte came from the network. */
  fromCache: boolean;
}

function newHash(store: ModelStore): () => Sha256 {
  return store.sha256 ? () => store.sha256!() : jsSha256;
}

function parseContentRange(h: string | null): { start: number; end: number; total: number } | undefined {
  const m = h ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(h.trim()) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? -1 : Number(m[3]) };
}

function lastSegment(url: string): string {
  const clean = url.split(/[?#]/)[0];
  return decodeURIComponent(clean.slice(clean.lastIndexOf('/') + 1)) || url;
}

/**
 * The file at `url` from the store, downloading (or finishing the download of) what is missing.
 * Throws ModelChecksumError, ModelStorageQuotaError, GgufSourceError (HTTP failures, or a connection
 * that kept failing; the bytes received so far stay stored for the next call), or an aborted ApiError.
 */
export async function cachedModelFile(url: string, opts: CachedFetchOptions): Promise<CachedFile> {
  const { store, signal } = opts;
  const file = opts.file ?? lastSegment(url);
  const expected = opts.sha256 === undefined ? undefined : normalizeSha256(opts.sha256);
  const progress = opts.onProgress;

  const hit = await store.complete(url);
  if (hit) {
    const { meta, source } = hit;
    let good = expected === undefined || meta.sha256 === expected;
    if (good && expected !== undefined) {
      // The record says it matched when stored; re-hash to catch bytes that changed since.
      const actual = await sha256OfSource(source, (done) => progress?.({ stage: 'cache', loadedBytes: done, totalBytes: meta.size, file, fromCache: true }), signal, newHash(store));
      good = actual === expected;
    }
    if (good) {
      progress?.({ stage: 'cache', loadedBytes: meta.size, totalBytes: meta.size, file, fromCache: true });
      return { source, meta, fromCache: true };
    }
    await source.close?.();
    await store.remove(url);
  }
  return download(url, opts, file, expected);
}

async function download(url: string, opts: CachedFetchOptions, file: string, expected: string | undefined): Promise<CachedFile> {
  const { store, signal } = opts;
  const doFetch = opts.fetch ?? globalThis.fetch;
  const partBytes = Math.max(1, opts.partBytes ?? 16 << 20);
  const progressBytes = Math.max(1, opts.progressBytes ?? 1 << 20);
  let retriesLeft = opts.retries ?? 4;
  const stopIfAborted = () => { if (signal?.aborted) throw abortedError('loadModel'); };

  let info: PartialInfo | null = null;
  let stored = 0;
  let hasher = newHash(store)();
  let hashed = 0;
  const partial = await store.partial(url);
  if (partial) {
    info = { size: partial.size, etag: partial.etag, lastModified: partial.lastModified };
    stored = partial.bytes;
    await partial.source.close?.();
  }
  let checkedSpace = false;
  /** Before the first byte is stored: refuse a file the store cannot hold (the response is dropped). */
  const checkSpace = async (size: number) => {
    if (checkedSpace || size < 0) return;
    checkedSpace = true;
    const space = await store.space();
    if (space && size - stored > space.available) {
      await res?.body?.cancel().catch(() => {});
      throw new ModelStorageQuotaError(url, size - stored, space, store.kind);
    }
  };
  let res: Response | undefined;

  for (;;) {
    stopIfAborted();
    const headers: Record<string, string> = { ...opts.headers, Range: `bytes=${stored}-` };
    const validator = info?.etag ?? info?.lastModified;
    if (stored > 0 && validator) headers['If-Range'] = validator;
    try {
      // no-store: the browser's HTTP cache would keep a second copy of the file and answer or rewrite
      // our Range requests from its own partial entries.
      res = await doFetch(url, { headers, signal, cache: 'no-store' });
    } catch (e) {
      stopIfAborted();
      if (retriesLeft-- > 0) continue;
      throw new GgufSourceError('http', url, `request for bytes ${stored}- failed: ${(e as Error).message}`);
    }

    if (res.status === 416 && info && stored > 0 && stored === info.size) {
      // Everything was stored before the last attempt ended.
      await res.body?.cancel().catch(() => {});
    } else if (res.status === 200 || res.status === 206) {
      const cr = res.status === 206 ? parseContentRange(res.headers.get('content-range')) : undefined;
      if (res.status === 206 && (!cr || cr.start !== stored)) {
        await res.body?.cancel().catch(() => {});
        throw new GgufSourceError('http', url, `asked for bytes ${stored}-, got 206 with Content-Range '${res.headers.get('content-range')}'`, 206);
      }
      const total = cr ? cr.total : Number(res.headers.get('content-length') ?? -1);
      const fresh: PartialInfo = {
        size: Number.isSafeInteger(total) && total >= 0 ? total : -1,
        etag: res.headers.get('etag') ?? undefined,
        lastModified: res.headers.get('last-modified') ?? undefined,
      };
      // A 200 (Range ignored, or If-Range saw a changed file) or a different size starts over.
      if (res.status === 200 || !info || stored === 0 || (info.size !== fresh.size)) {
        if (stored > 0 && res.status === 206) {
          await res.body?.cancel().catch(() => {});
          stored = 0;
          info = null;
          continue;
        }
        await checkSpace(fresh.size);
        await store.begin(url, fresh);
        info = fresh;
        stored = 0;
        hasher = newHash(store)();
        hashed = 0;
      }
      await checkSpace(info.size);
      // A resumed download hashes the stored prefix before the new bytes.
      if (hashed < stored) {
        const src = (await store.partial(url))?.source;
        if (!src || src.size < stored) throw new GgufSourceError('io', url, `the stored ${stored} bytes of the download are no longer all there`);
        try {
          for (let off = hashed; off < stored; off += HASH_READ) {
            const n = Math.min(HASH_READ, stored - off);
            hasher.update(await src.read(off, n));
            opts.onProgress?.({ stage: 'cache', loadedBytes: off + n, totalBytes: info.size, file, fromCache: true });
          }
        } finally {
          await src.close?.();
        }
        hashed = stored;
      }
      const failed = await receive(res, url, store, info, stored, partBytes, progressBytes, file, opts, hasher, (n) => { stored = n; hashed = n; });
      if (failed) {
        stopIfAborted();
        if (retriesLeft-- > 0) continue;
        throw new GgufSourceError('http', url, `the download kept failing (${failed.message}); ${stored} of ${info.size} bytes are stored and the next load resumes from there`);
      }
    } else {
      await res.body?.cancel().catch(() => {});
      throw new GgufSourceError('http', url, `HTTP ${res.status} ${res.statusText}`.trim(), res.status);
    }

    if (info.size >= 0 && stored !== info.size) {
      // The body ended early without an error (a proxy that closed cleanly): ask for the rest.
      if (retriesLeft-- > 0) continue;
      throw new GgufSourceError('short-read', url, `the server sent ${stored} of ${info.size} bytes`);
    }
    break;
  }

  const size = stored;
  const actual = hasher.hex();
  if (expected !== undefined && actual !== expected) {
    await store.remove(url);
    throw new ModelChecksumError(url, expected, actual, size);
  }
  const meta: CachedFileMeta = {
    url, size, sha256: actual, etag: info.etag, lastModified: info.lastModified, storedAt: new Date().toISOString(),
  };
  const source = await store.commit(url, meta);
  return { source, meta, fromCache: false };
}

/**
 * Read a response body into the store. Returns the error that cut the connection (after storing what
 * had arrived), or null at the end of the body. Abort is rethrown.
 */
async function receive(
  res: Response, url: string, store: ModelStore, info: PartialInfo, start: number, partBytes: number, progressBytes: number,
  file: string, opts: CachedFetchOptions, hasher: Sha256, setStored: (n: number) => void,
): Promise<Error | null> {
  if (!res.body) throw new GgufSourceError('http', url, `HTTP ${res.status} without a body`, res.status);
  const reader = res.body.getReader();
  let stored = start;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let lastReport = start;
  const total = info.size;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const part = pending.length === 1 ? pending[0] : concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    try {
      await store.append(url, stored, part);
    } catch (e) {
      if (isQuotaError(e)) throw new ModelStorageQuotaError(url, (total >= 0 ? total : stored + part.length) - stored, await store.space().catch(() => null), store.kind, e);
      throw e;
    }
    hasher.update(part);
    stored += part.length;
    setStored(stored);
  };
  const report = () => {
    opts.onProgress?.({ stage: 'fetch', loadedBytes: stored + pendingBytes, totalBytes: total >= 0 ? total : stored + pendingBytes, file, fromCache: false });
    lastReport = stored + pendingBytes;
  };
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        await flush();
        report();
        if (opts.signal?.aborted) throw abortedError('loadModel');
        return e as Error;
      }
      if (chunk.done) break;
      let bytes = chunk.value;
      if (total >= 0 && stored + pendingBytes + bytes.length > total) {
        throw new GgufSourceError('http', url, `the server sent more than the ${total} bytes it announced`);
      }
      while (bytes.length > 0) {
        const take = Math.min(bytes.length, partBytes - pendingBytes);
        pending.push(take === bytes.length ? bytes : bytes.subarray(0, take));
        pendingBytes += take;
        bytes = bytes.subarray(take);
        if (pendingBytes === partBytes) await flush();
      }
      if (stored + pendingBytes - lastReport >= progressBytes) report();
    }
    await flush();
    if (stored !== lastReport) report();
    return null;
  } finally {
    reader.releaseLock?.();
  }
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}
