// Node's model store: a directory (default $EDGEWISE_CACHE_DIR, else $XDG_CACHE_HOME/edgewise, else
// ~/.cache/edgewise). Each URL owns `<id>.gguf` (complete) or `<id>.gguf.part` (a download in
// progress) with a JSON record beside it; `<id>` is a hash of the URL followed by its file name, so a
// person listing the directory can tell the models apart. Node-only (node:fs): reached through
// node-platform.ts, never from a browser bundle.

import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, statfs, truncate, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ByteSource } from '../formats/gguf-source.ts';
import { fileSource } from '../formats/gguf-node.ts';
import type { CachedFileMeta, ModelStore, PartialInfo, Sha256, StorageSpace, StoredPartial } from './model-cache.ts';

export function defaultCacheDir(): string {
  const env = process.env;
  if (env.EDGEWISE_CACHE_DIR) return env.EDGEWISE_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'edgewise');
}

function fileId(url: string): string {
  const name = (url.split(/[?#]/)[0].split('/').pop() || 'model').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
  return `${createHash('sha256').update(url).digest('hex').slice(0, 16)}-${name}`;
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

export class DirectoryModelStore implements ModelStore {
  readonly kind = 'directory';

  constructor(readonly dir: string = defaultCacheDir()) {}

  private paths(url: string) {
    const base = join(this.dir, fileId(url));
    return { file: `${base}.gguf`, meta: `${base}.json`, part: `${base}.gguf.part`, partMeta: `${base}.part.json` };
  }

  async complete(url: string): Promise<{ meta: CachedFileMeta; source: ByteSource } | null> {
    const p = this.paths(url);
    const meta = await readJson<CachedFileMeta>(p.meta);
    if (!meta || meta.url !== url || (await sizeOf(p.file)) !== meta.size) return null;
    return { meta, source: await fileSource(p.file) };
  }

  async partial(url: string): Promise<StoredPartial | null> {
    const p = this.paths(url);
    const info = await readJson<PartialInfo & { url: string }>(p.partMeta);
    const bytes = await sizeOf(p.part);
    if (!info || info.url !== url || bytes === null) return null;
    return { size: info.size, etag: info.etag, lastModified: info.lastModified, bytes, source: await fileSource(p.part) };
  }

  async begin(url: string, info: PartialInfo): Promise<void> {
    await this.remove(url);
    await mkdir(this.dir, { recursive: true });
    const p = this.paths(url);
    await writeFile(p.part, new Uint8Array(0));
    await writeFile(p.partMeta, JSON.stringify({ url, ...info }));
  }

  async append(url: string, offset: number, bytes: Uint8Array): Promise<void> {
    const p = this.paths(url);
    const have = await sizeOf(p.part);
    if (have === null) throw new Error(`no download of ${url} was started in ${this.dir}`);
    // A write cut short by a crash leaves a longer file than recorded progress; the caller's offset wins.
    if (have > offset) await truncate(p.part, offset);
    else if (have < offset) throw new Error(`append at ${offset} to ${p.part} of ${have} bytes`);
    const h = await open(p.part, 'a');
    try {
      let done = 0;
      while (done < bytes.length) done += (await h.write(bytes, done, bytes.length - done)).bytesWritten;
    } finally {
      await h.close();
    }
  }

  async commit(url: string, meta: CachedFileMeta): Promise<ByteSource> {
    const p = this.paths(url);
    await rename(p.part, p.file);
    await writeFile(p.meta, JSON.stringify(meta));
    await rm(p.partMeta, { force: true });
    return fileSource(p.file);
  }

  async remove(url: string): Promise<void> {
    const p = this.paths(url);
    await Promise.all([p.file, p.meta, p.part, p.partMeta].map((f) => rm(f, { force: true })));
  }

  async space(): Promise<StorageSpace | null> {
    try {
      await mkdir(this.dir, { recursive: true });
      const s = await statfs(this.dir);
      return { available: s.bavail * s.bsize };
    } catch {
      return null;
    }
  }

  /** Node's OpenSSL sha256, several times faster than the pure-JS one on multi-gigabyte files. */
  sha256(): Sha256 {
    const h = createHash('sha256');
    return { update: (b) => { h.update(b); }, hex: () => h.digest('hex') };
  }

  /** Where url's complete file would be stored (tests corrupt it on purpose). */
  filePath(url: string): string {
    return this.paths(url).file;
  }

  partPath(url: string): string {
    return this.paths(url).part;
  }
}
