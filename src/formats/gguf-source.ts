// Where GGUF bytes come from. The header parser and the weight loader only ever ask for a byte range,
// so a model can sit in memory, in a Blob/File the user dropped, or behind an HTTP server that
// answers Range requests, and only the bytes needed are read. Node paths live in gguf-node.ts so a
// browser bundle never pulls in node:fs.

import { EdgewiseError } from '../errors.ts';

/** A random-access byte source. `read` returns exactly `length` bytes starting at `offset`. */
export interface ByteSource {
  /** For error messages: a path, URL or file name. */
  readonly name: string;
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

export type GgufSourceProblem = 'range' | 'http' | 'range-ignored' | 'short-read' | 'size' | 'io';

/** A source could not deliver the bytes asked for (I/O, HTTP status, a server that ignores Range). */
export class GgufSourceError extends EdgewiseError {
  override name = 'GgufSourceError';
  constructor(readonly what: GgufSourceProblem, readonly source: string, message: string, readonly status?: number) {
    super(`${source}: ${message}`, { what, source, status });
  }
}

/** Throws unless [offset, offset+length) is a whole-number range inside a source of `size` bytes. */
export function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new GgufSourceError('range', name, `read of ${length} bytes at ${offset} is outside the ${size}-byte source`);
  }
}

/** Bytes already in memory (tests, fixtures, a fully downloaded file). Reads return copies. */
export function bytesSource(bytes: Uint8Array, name = 'memory'): ByteSource {
  return {
    name,
    size: bytes.length,
    async read(offset, length) {
      checkRange(name, bytes.length, offset, length);
      return bytes.slice(offset, offset + length);
    },
  };
}

/** A Blob or File (browser file picker, drag and drop, IndexedDB). Only the sliced range is read. */
export function blobSource(blob: Blob, name = (blob as { name?: string }).name ?? 'blob'): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(name, blob.size, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

export interface UrlSourceOptions {
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  /** Bytes asked for by the first request; they are kept and serve the header parse without a second trip. */
  probeBytes?: number;
  /**
   * When the server ignores Range and sends the whole file, keep it in memory if it is at most this
   * many bytes (small models, fixtures); otherwise stop the download and throw 'range-ignored'.
   */
  maxWholeDownload?: number;
  /** Told once when the whole-file fallback is taken. */
  onFallback?: (message: string) => void;
}

export interface UrlSource extends ByteSource {
  /** 'range': each read is its own Range request; 'whole': the server ignored Range and the file is in memory. */
  readonly mode: 'range' | 'whole';
}

const DEFAULT_PROBE = 1 << 20;
const DEFAULT_MAX_WHOLE = 64 << 20;

// Parse a Content-Range value: "bytes 0-1023/4096", or "bytes */4096" on a 416. total is NaN for an unknown size.
function parseContentRange(h: string | null): { start: number; end: number; total: number } | undefined {
  if (!h) return undefined;
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(h.trim());
  if (!m) return undefined;
  return { start: m[1] ? Number(m[1]) : NaN, end: m[2] ? Number(m[2]) : NaN, total: m[3] === '*' ? NaN : Number(m[3]) };
}

async function cancelBody(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // the body is abandoned either way
  }
}

/**
 * A file on an HTTP server, read with Range requests. The first request asks for `probeBytes` and
 * learns the file size from Content-Range; those bytes are cached. A server that answers 200 to a
 * Range request is handled per `maxWholeDownload` (see there).
 */
export async function urlSource(url: string, opts: UrlSourceOptions = {}): Promise<UrlSource> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const probe = Math.max(1, opts.probeBytes ?? DEFAULT_PROBE);
  const maxWhole = opts.maxWholeDownload ?? DEFAULT_MAX_WHOLE;
  const get = (range: string) => doFetch(url, { headers: { ...opts.headers, Range: range } });

  let res: Response;
  try {
    res = await get(`bytes=0-${probe - 1}`);
  } catch (e) {
    throw new GgufSourceError('http', url, `request failed: ${(e as Error).message}`);
  }

  if (res.status === 200) {
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (!(declared <= maxWhole)) {
      await cancelBody(res);
      throw new GgufSourceError(
        'range-ignored', url,
        `server ignored the Range request and sent the whole file (${Number.isNaN(declared) ? 'unknown size' : `${declared} bytes`}), ` +
        `more than the ${maxWhole}-byte whole-download limit; serve it from a server that supports Range (206) or raise maxWholeDownload`,
        200,
      );
    }
    const whole = new Uint8Array(await res.arrayBuffer());
    if (whole.length !== declared) {
      throw new GgufSourceError('short-read', url, `server declared ${declared} bytes but sent ${whole.length}`, 200);
    }
    opts.onFallback?.(`${url}: server ignored Range; downloaded the whole file (${whole.length} bytes)`);
    return { ...bytesSource(whole, url), mode: 'whole' };
  }

  let size: number;
  let head: Uint8Array;
  if (res.status === 416) {
    // Only possible for an empty file: byte 0 does not exist.
    await cancelBody(res);
    const cr = parseContentRange(res.headers.get('content-range'));
    size = cr && !Number.isNaN(cr.total) ? cr.total : 0;
    head = new Uint8Array(0);
    if (size !== 0) throw new GgufSourceError('http', url, `416 for bytes=0-${probe - 1} on a ${size}-byte file`, 416);
  } else if (res.status === 206) {
    const cr = parseContentRange(res.headers.get('content-range'));
    if (!cr || cr.start !== 0) {
      await cancelBody(res);
      throw new GgufSourceError('http', url, `206 with unusable Content-Range '${res.headers.get('content-range')}'`, 206);
    }
    head = new Uint8Array(await res.arrayBuffer());
    size = cr.total;
    if (Number.isNaN(size)) {
      // Content-Range total '*': ask for it with HEAD.
      const h = await doFetch(url, { method: 'HEAD', headers: opts.headers });
      size = Number(h.headers.get('content-length') ?? NaN);
      if (!Number.isSafeInteger(size)) throw new GgufSourceError('size', url, 'server reports no file size (Content-Range total * and no Content-Length)');
    }
    if (head.length !== Math.min(probe, size) || head.length !== cr.end + 1) {
      throw new GgufSourceError('short-read', url, `asked for bytes 0-${probe - 1} of ${size}, got ${head.length} (Content-Range end ${cr.end})`, 206);
    }
  } else {
    await cancelBody(res);
    throw new GgufSourceError('http', url, `HTTP ${res.status} ${res.statusText}`.trim(), res.status);
  }

  return {
    name: url,
    size,
    mode: 'range',
    async read(offset, length) {
      checkRange(url, size, offset, length);
      if (offset + length <= head.length) return head.slice(offset, offset + length);
      if (length === 0) return new Uint8Array(0);
      const last = offset + length - 1;
      let r: Response;
      try {
        r = await get(`bytes=${offset}-${last}`);
      } catch (e) {
        throw new GgufSourceError('http', url, `request for bytes ${offset}-${last} failed: ${(e as Error).message}`);
      }
      if (r.status === 200) {
        // The probe was answered with 206, but this request (another server behind a load balancer, a
        // cache in the way) sent the whole file: stop it rather than download it all for one range.
        await cancelBody(r);
        throw new GgufSourceError(
          'range-ignored', url,
          `server ignored the Range request for bytes ${offset}-${last} and began sending the whole file (HTTP 200); serve it from a server that supports Range (206)`,
          200,
        );
      }
      const cr = parseContentRange(r.headers.get('content-range'));
      if (r.status !== 206 || !cr || cr.start !== offset) {
        await cancelBody(r);
        throw new GgufSourceError('http', url, `bytes ${offset}-${last}: HTTP ${r.status}, Content-Range '${r.headers.get('content-range')}'`, r.status);
      }
      const bytes = new Uint8Array(await r.arrayBuffer());
      if (bytes.length !== length) {
        throw new GgufSourceError('short-read', url, `asked for ${length} bytes at ${offset}, got ${bytes.length}`, r.status);
      }
      return bytes;
    },
  };
}
