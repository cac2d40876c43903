// Opening a model from what loadModel was given: an hf:// reference, an http(s) URL (read by Range
// requests, or downloaded into the model cache), a blob: or data: URL, a Blob/File, or (Node only) a
// path. Split GGUFs: the first part names the rest (URLs and paths; Blobs are one file each).
//
// Remote files go through the model cache (model-cache.ts) unless loadModel says cache: false: hf://
// references and URLs on another host than this page (or than loopback, in Node). A URL of the page's
// own server, or of localhost, is already local and is read by ranges unless cache: true asks.

import { ggufSplitNames, openGgufBlobs, openGgufSplits, openGgufUrl, type Gguf } from '../formats/gguf.ts';
import { blobSource, type ByteSource } from '../formats/gguf-source.ts';
import { invalidRequest } from './errors.ts';
import { cachedModelFile, normalizeSha256, sha256OfSource, ModelChecksumError, type ModelStore } from './model-cache.ts';
import { CacheStorageModelStore } from './model-store-cache-api.ts';
import type { LoadModelOptions, LoadProgress, ModelSource } from './types.ts';

export interface OpenModelOptions {
  /** As LoadModelOptions.cache; default per the rule above. */
  cache?: LoadModelOptions['cache'];
  sha256?: string;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /** Tests: the store to cache into instead of the platform's. */
  store?: ModelStore;
  /** Tests: fetch for downloads and Range reads. */
  fetch?: typeof fetch;
}

export interface OpenedModel {
  gguf: Gguf;
  /** File name for the default model id. */
  name: string;
  /** Bytes of all its files. */
  fileBytes: number;
}

const HF = /^hf:\/\/([^/@]+)\/([^/@]+)\/([^@]+?)(?:@([^/]+))?$/;

/** hf://owner/repo/path/file.gguf[@revision] -> the hub's resolve URL (revision default main). */
export function resolveHfUrl(ref: string): string {
  const m = HF.exec(ref);
  if (!m) throw invalidRequest(`${ref} is not an hf:// model reference (expected hf://owner/repo/file.gguf[@revision])`, 'model', 'invalid_value');
  const [, owner, repo, file, rev] = m;
  return `https://huggingface.co/${owner}/${repo}/resolve/${encodeURIComponent(rev ?? 'main')}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

function baseName(s: string): string {
  const clean = s.split(/[?#]/)[0];
  return decodeURIComponent(clean.slice(clean.lastIndexOf('/') + 1)) || s;
}

function isNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
}

// Kept out of browser bundles' static graph: node-platform.ts imports node:fs (see there).
const nodePlatform = () => import('./node-platform.ts');

const LOOPBACK = /^(localhost|127(?:\.\d+){3}|\[::1\])$/i;

/** Whether a remote URL is cached when loadModel does not say. */
export function cachedByDefault(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (LOOPBACK.test(u.hostname)) return false;
  const page = (globalThis as { location?: { origin?: string } }).location?.origin;
  return u.origin !== page;
}

/** Checks what loadModel's options say about the source before anything is unloaded. */
export function checkSourceOptions(opts: Pick<LoadModelOptions, 'model' | 'cache' | 'sha256'>, param = 'sha256'): void {
  const c = opts.cache;
  if (c !== undefined && typeof c !== 'boolean' && (c === null || typeof c !== 'object' || (c.dir !== undefined && typeof c.dir !== 'string'))) {
    throw invalidRequest(`cache must be true, false or { dir }, got ${JSON.stringify(c)}`, 'cache', 'invalid_type');
  }
  if (opts.sha256 === undefined) return;
  if (typeof opts.sha256 !== 'string') throw invalidRequest(`${param} must be a hex string, got ${typeof opts.sha256}`, param, 'invalid_type');
  try {
    normalizeSha256(opts.sha256);
  } catch (e) {
    throw invalidRequest((e as Error).message, param, 'invalid_value');
  }
  const m = opts.model;
  if (typeof m === 'string' && /^(https?|hf):\/\//i.test(m)) {
    const url = m.startsWith('hf://') ? resolveHfUrl(m) : m;
    if (ggufSplitNames(url).length > 1) {
      throw invalidRequest(`${param} names one file, but ${m} is a split model of ${ggufSplitNames(url).length} files`, param, 'invalid_value');
    }
    if (c === false) {
      throw invalidRequest(`${param} is checked as a download is stored in the model cache; with cache: false the file is only read by ranges, so leave one of them out`, param, 'invalid_value');
    }
  }
}

/** The store remote files are cached in here, or null where there is none (an insecure browser origin). */
async function platformStore(cache: LoadModelOptions['cache']): Promise<ModelStore | null> {
  const dir = typeof cache === 'object' ? cache.dir : undefined;
  if (isNode()) {
    const { DirectoryModelStore } = await nodePlatform();
    return new DirectoryModelStore(dir);
  }
  return CacheStorageModelStore.available() ? new CacheStorageModelStore() : null;
}

/** A local source's bytes checked against the caller's sha256 before they are parsed. */
async function checkLocalSha256(src: ByteSource, opts: OpenModelOptions, file: string): Promise<void> {
  if (opts.sha256 === undefined) return;
  const expected = normalizeSha256(opts.sha256);
  const actual = await sha256OfSource(src, (done) => opts.onProgress?.({ stage: 'parse', loadedBytes: done, totalBytes: src.size, file }), opts.signal);
  if (actual !== expected) throw new ModelChecksumError(src.name, expected, actual, src.size);
}

/** The remote file(s) of url: through the cache when asked (or by default), else read by ranges. */
async function openRemote(url: string, name: string, opts: OpenModelOptions): Promise<Gguf> {
  const useCache = opts.cache === undefined ? cachedByDefault(url) : opts.cache !== false;
  const store = useCache ? (opts.store ?? await platformStore(opts.cache)) : null;
  if (!store) {
    if (opts.sha256 !== undefined) {
      throw invalidRequest('sha256 is checked as a download is stored in the model cache, and this context has no Cache Storage (a page served over plain http from another host than localhost)', 'sha256', 'no_cache_storage');
    }
    return openGgufUrl(url, { fetch: opts.fetch });
  }
  const urls = ggufSplitNames(url);
  const sources: ByteSource[] = [];
  try {
    for (const u of urls) {
      const f = await cachedModelFile(u, {
        store, fetch: opts.fetch, sha256: opts.sha256, signal: opts.signal, onProgress: opts.onProgress,
        file: urls.length > 1 ? baseName(u) : name,
      });
      sources.push(f.source);
    }
    return await openGgufSplits(sources);
  } catch (e) {
    await Promise.all(sources.map((s) => s.close?.()));
    throw e;
  }
}

function bytesOf(gguf: Gguf): number {
  return gguf.files.reduce((s, f) => s + f.source.size, 0);
}

export async function openModelSource(src: ModelSource, opts: OpenModelOptions = {}): Promise<OpenedModel> {
  if (typeof Blob !== 'undefined' && src instanceof Blob) {
    await checkLocalSha256(blobSource(src), opts, (src as { name?: string }).name || 'model.gguf');
    const gguf = await openGgufBlobs([src]);
    return { gguf, name: (src as { name?: string }).name || 'model.gguf', fileBytes: bytesOf(gguf) };
  }
  if (typeof src !== 'string' || src.length === 0) {
    throw invalidRequest(`model must be a path, URL, hf:// reference or Blob, got ${src === null ? 'null' : typeof src}`, 'model', 'invalid_type');
  }
  if (src.startsWith('hf://')) {
    const name = baseName(src.replace(/@[^/]+$/, ''));
    const gguf = await openRemote(resolveHfUrl(src), name, opts);
    return { gguf, name, fileBytes: bytesOf(gguf) };
  }
  if (/^https?:\/\//i.test(src)) {
    const gguf = await openRemote(src, baseName(src), opts);
    return { gguf, name: baseName(src), fileBytes: bytesOf(gguf) };
  }
  if (/^(blob|data):/i.test(src)) {
    // Object and data URLs answer no Range requests; they are local bytes anyway.
    const blob = await (await fetch(src)).blob();
    await checkLocalSha256(blobSource(blob), opts, 'model.gguf');
    const gguf = await openGgufBlobs([blob]);
    return { gguf, name: src.startsWith('blob:') ? 'blob.gguf' : 'data.gguf', fileBytes: bytesOf(gguf) };
  }
  if (!isNode()) {
    throw invalidRequest(`${src}: a path can only be opened in Node; in the browser give a URL or a File/Blob`, 'model', 'invalid_value');
  }
  const { openGgufPath } = await nodePlatform();
  const gguf = await openGgufPath(src);
  if (opts.sha256 !== undefined) {
    if (gguf.files.length > 1) {
      await gguf.close();
      throw invalidRequest(`sha256 names one file, but ${src} is a split model of ${gguf.files.length} files`, 'sha256', 'invalid_value');
    }
    try {
      await checkLocalSha256(gguf.files[0].source, opts, baseName(src));
    } catch (e) {
      await gguf.close();
      throw e;
    }
  }
  return { gguf, name: baseName(src.replaceAll('\\', '/')), fileBytes: bytesOf(gguf) };
}
